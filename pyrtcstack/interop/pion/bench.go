// Throughput channels and Pion → Pion for bench/bench_interop.py (not used by the interop
// scenarios).
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v3"
)

// Throughput (bench/bench_interop.py; not used by the interop scenarios). A channel labelled
// "bench-sink:N" is read until N bytes arrived, then answers "done N"; on one labelled
// "bench-source:N:SIZE" the peer sends N bytes in SIZE-byte binary messages as fast as
// its flow control allows (at most highWater bytes buffered, as bench_pc.py's senders).
const (
	highWater = 1 << 20
	lowWater  = 1 << 18
	maxBench  = 1 << 32
)

func bench(dc *webrtc.DataChannel, raw datachannel.ReadWriteCloser) {
	parts := strings.Split(dc.Label(), ":")
	total, err := strconv.Atoi(parts[len(parts)-1])
	if len(parts) == 3 {
		size, err2 := strconv.Atoi(parts[2])
		total, err = strconv.Atoi(parts[1])
		if err == nil && err2 == nil && parts[0] == "bench-source" && size > 0 && size <= readBuffer && total <= maxBench {
			stop := startProfile(fmt.Sprintf("source-%d", size), total)
			err := sendAll(dc, raw, total, size)
			if err != nil {
				logf("bench source: %v", err)
			}
			if stop != nil {
				if err == nil {
					drain(dc) // the profile covers the transfer up to its last byte taken
				}
				stop()
			}
			return
		}
	}
	if len(parts) != 2 || parts[0] != "bench-sink" || err != nil || total > maxBench {
		logf("bad bench channel label %q", dc.Label())
		return
	}
	stop := startProfile("sink", total)
	got, err := readAll(raw, total)
	if stop != nil {
		stop()
	}
	if err != nil {
		logf("bench sink: %v", err)
		return
	}
	_, _ = raw.WriteDataChannel([]byte(fmt.Sprintf("done %d", got)), true)
}

func readAll(raw datachannel.ReadWriteCloser, total int) (int, error) {
	buf := make([]byte, readBuffer)
	got := 0
	for got < total {
		n, _, err := raw.ReadDataChannel(buf)
		if err != nil {
			return got, err
		}
		got += n
	}
	return got, nil
}

func sendAll(dc *webrtc.DataChannel, raw datachannel.ReadWriteCloser, total, size int) error {
	low := make(chan struct{}, 1)
	dc.SetBufferedAmountLowThreshold(lowWater)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	payload := make([]byte, size)
	for sent := 0; sent < total; sent += size {
		for dc.BufferedAmount() > highWater {
			select {
			case <-low:
			case <-time.After(100 * time.Millisecond):
			}
		}
		if _, err := raw.WriteDataChannel(payload, false); err != nil {
			return err
		}
	}
	return nil
}

// drain waits until the channel's send buffer is empty (the peer acknowledged every byte),
// the channel is no longer open (the peer may close on the last byte, before its last
// SACK), or 10 s passed.
func drain(dc *webrtc.DataChannel) {
	deadline := time.Now().Add(10 * time.Second)
	for dc.BufferedAmount() > 0 && dc.ReadyState() == webrtc.DataChannelStateOpen && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// CPUProfileEnv names the prefix of the CPU profiles the bench transfers write (off when
// unset or empty): each transfer of a bench channel, and -self-bench's, writes
// PREFIX-PID-N-WHAT.pprof (runtime/pprof, 100 Hz; read with `go tool pprof -top FILE`) and
// PREFIX-PID-N-WHAT.json (bytes, wall and process CPU seconds of the same interval). WHAT
// is source-SIZE, sink, or self-SIZE; N counts this process's profiles from 1. In -self-bench
// the samples carry the label end=sender or end=receiver (`-tagfocus end=sender`).
const CPUProfileEnv = "PYRTCSTACK_PION_CPUPROFILE"

var profiles int32

// startProfile starts a CPU profile of this process when CPUProfileEnv is set and returns
// what stops it and writes the files (nil when profiling is off; it may be called more
// than once). Profiling problems are logged, never fatal: the transfer goes on.
func startProfile(what string, total int) func() {
	prefix := os.Getenv(CPUProfileEnv)
	if prefix == "" {
		return nil
	}
	name := fmt.Sprintf("%s-%d-%d-%s", prefix, os.Getpid(), atomic.AddInt32(&profiles, 1), what)
	f, err := os.Create(name + ".pprof")
	if err != nil {
		logf("cpu profile: %v", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		logf("cpu profile: %v", err)
		_ = f.Close()
		_ = os.Remove(name + ".pprof")
		return nil
	}
	c0, t0 := cpuSeconds(), time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			// The clocks first: stopping writes the profile (CPU and up to ~0.2 s).
			out, _ := json.Marshal(message{"bytes": total, "seconds": time.Since(t0).Seconds(), "cpuSeconds": cpuSeconds() - c0})
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				logf("cpu profile: %v", err)
			}
			if err := os.WriteFile(name+".json", append(out, '\n'), 0o644); err != nil {
				logf("cpu profile: %v", err)
			}
		})
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// selfBench is Pion → Pion in this process (bench/bench_interop.py's anchor was this until
// 2026-12-07; it is -pair-bench now, a process per end as Pion → us runs): two peer
// connections on loopback, one channel, total bytes in size-byte messages; prints JSON.
// Each end's calls run under a profiler label (end=sender, end=receiver), which every
// goroutine Pion starts from them inherits, so a CPU profile (CPUProfileEnv) splits the
// process's samples by end.
func selfBench(total, size int) error {
	sender := pprof.WithLabels(context.Background(), pprof.Labels("end", "sender"))
	receiver := pprof.WithLabels(context.Background(), pprof.Labels("end", "receiver"))
	defer pprof.SetGoroutineLabels(context.Background())
	api, err := newAPI()
	if err != nil {
		return err
	}
	pprof.SetGoroutineLabels(sender)
	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer a.Close()
	pprof.SetGoroutineLabels(receiver)
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer b.Close()
	pprof.SetGoroutineLabels(sender)
	ch, err := a.CreateDataChannel("bench", nil)
	if err != nil {
		return err
	}
	opened := make(chan datachannel.ReadWriteCloser, 1)
	ch.OnOpen(func() {
		raw, err := ch.Detach()
		if err == nil {
			opened <- raw
		}
	})
	received := make(chan error, 1)
	pprof.SetGoroutineLabels(receiver)
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			raw, err := dc.Detach()
			if err != nil {
				received <- err
				return
			}
			_, err = readAll(raw, total)
			received <- err
		})
	})
	if err := exchangeDescription(a, b, true, sender, receiver); err != nil {
		return err
	}
	if err := exchangeDescription(b, a, false, receiver, sender); err != nil {
		return err
	}
	pprof.SetGoroutineLabels(sender) // this goroutine sends
	var raw datachannel.ReadWriteCloser
	select {
	case raw = <-opened:
	case <-time.After(30 * time.Second):
		return errors.New("the channel did not open within 30 s")
	}
	stop := startProfile(fmt.Sprintf("self-%d", size), total)
	if stop != nil {
		defer stop() // on an error return
	}
	c0, t0 := cpuSeconds(), time.Now()
	if err := sendAll(ch, raw, total, size); err != nil {
		return err
	}
	select {
	case err := <-received:
		if err != nil {
			return err
		}
	case <-time.After(300 * time.Second):
		return errors.New("not all received within 300 s")
	}
	seconds, cpu := time.Since(t0).Seconds(), cpuSeconds()-c0
	if stop != nil {
		stop() // after the clocks: writing the profile takes up to ~0.2 s
	}
	out, _ := json.Marshal(message{"bytes": total, "seconds": seconds, "cpuSeconds": cpu})
	fmt.Println(string(out))
	return nil
}

// setupBench is Pion's setup time for bench/bench_setup.py, measured as bench_pc.py measures
// ours: from the two NewPeerConnection calls (each makes its ECDSA P-256 certificate)
// through the non-trickle offer/answer (each side waits for gathering to complete) to the
// offerer's channel "open"; then both close. n setups one after another; prints JSON with
// the median wall milliseconds and the process CPU milliseconds per setup (close included).
// With ahead, every peer connection gets a certificate of its own made before the clocks
// start (W3C generateCertificate: webrtc.GenerateCertificate, Configuration.Certificates),
// as bench_setup.py's "ahead" row does for ours.
func setupBench(n int, ahead bool) error {
	api, err := newAPI()
	if err != nil {
		return err
	}
	var certificates []webrtc.Certificate
	for i := 0; ahead && i < 2*n; i++ {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		certificate, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return err
		}
		certificates = append(certificates, *certificate)
	}
	configuration := func() webrtc.Configuration {
		if !ahead {
			return webrtc.Configuration{}
		}
		certificate := certificates[len(certificates)-1]
		certificates = certificates[:len(certificates)-1]
		return webrtc.Configuration{Certificates: []webrtc.Certificate{certificate}}
	}
	one := func() (time.Duration, error) {
		configA, configB := configuration(), configuration()
		t0 := time.Now()
		a, err := api.NewPeerConnection(configA)
		if err != nil {
			return 0, err
		}
		defer a.Close()
		b, err := api.NewPeerConnection(configB)
		if err != nil {
			return 0, err
		}
		defer b.Close()
		ch, err := a.CreateDataChannel("bench", nil)
		if err != nil {
			return 0, err
		}
		opened := make(chan struct{})
		ch.OnOpen(func() { close(opened) })
		if err := exchangeDescription(a, b, true, context.Background(), context.Background()); err != nil {
			return 0, err
		}
		if err := exchangeDescription(b, a, false, context.Background(), context.Background()); err != nil {
			return 0, err
		}
		select {
		case <-opened:
		case <-time.After(30 * time.Second):
			return 0, errors.New("the channel did not open within 30 s")
		}
		return time.Since(t0), nil
	}
	times := make([]float64, 0, n)
	c0 := cpuSeconds()
	for i := 0; i < n; i++ {
		d, err := one()
		if err != nil {
			return err
		}
		times = append(times, d.Seconds()*1000)
	}
	cpu := (cpuSeconds() - c0) * 1000 / float64(n)
	sort.Float64s(times)
	out, _ := json.Marshal(message{"setups": n, "medianMs": times[n/2], "cpuMsPerSetup": cpu, "ms": times})
	fmt.Println(string(out))
	return nil
}

// exchangeDescription makes from's offer (or answer), waits until from has gathered every
// candidate (non-trickle) and gives the complete description to to. Each side's calls run
// under its profiler labels (fromLabels, toLabels; selfBench); the caller's are left set
// to toLabels.
func exchangeDescription(from, to *webrtc.PeerConnection, offer bool, fromLabels, toLabels context.Context) error {
	pprof.SetGoroutineLabels(fromLabels)
	var d webrtc.SessionDescription
	var err error
	if offer {
		d, err = from.CreateOffer(nil)
	} else {
		d, err = from.CreateAnswer(nil)
	}
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(from)
	if err := from.SetLocalDescription(d); err != nil {
		return err
	}
	<-gathered
	description := from.LocalDescription()
	pprof.SetGoroutineLabels(toLabels)
	return to.SetRemoteDescription(*description)
}

// pairBench is Pion → Pion in two processes, as Pion → us is: this process sends, a child
// (this binary's -pair-sink) receives; the offer and the answer (non-trickle) go over the
// child's stdin and stdout. Prints JSON with the sender's and the receiver's CPU seconds
// apart (each its own process's, from the channel's opening to its last byte). With
// CPUProfileEnv set, this process writes a profile (pair-SIZE) like a bench source's.
func pairBench(total, size int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(exe, "-pair-sink", strconv.Itoa(total))
	child.Stderr = os.Stderr
	child.Env = os.Environ()
	in, err := child.StdinPipe()
	if err != nil {
		return err
	}
	out, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return err
	}
	defer func() {
		_ = in.Close() // the child exits when its stdin closes
		_ = child.Wait()
	}()
	lines := bufio.NewScanner(out)
	api, err := newAPI()
	if err != nil {
		return err
	}
	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer a.Close()
	ch, err := a.CreateDataChannel("bench", nil)
	if err != nil {
		return err
	}
	opened := make(chan datachannel.ReadWriteCloser, 1)
	ch.OnOpen(func() {
		if raw, err := ch.Detach(); err == nil {
			opened <- raw
		}
	})
	offer, err := a.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(a)
	if err := a.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	if err := json.NewEncoder(in).Encode(a.LocalDescription()); err != nil {
		return err
	}
	var answer webrtc.SessionDescription
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &answer) != nil {
		return errors.New("no answer from the -pair-sink child")
	}
	if err := a.SetRemoteDescription(answer); err != nil {
		return err
	}
	var raw datachannel.ReadWriteCloser
	select {
	case raw = <-opened:
	case <-time.After(30 * time.Second):
		return errors.New("the channel did not open within 30 s")
	}
	stop := startProfile(fmt.Sprintf("pair-%d", size), total)
	if stop != nil {
		defer stop()
	}
	c0, t0 := cpuSeconds(), time.Now()
	if err := sendAll(ch, raw, total, size); err != nil {
		return err
	}
	var done struct {
		Opened     bool    `json:"opened"`
		Bytes      int     `json:"bytes"`
		CPUSeconds float64 `json:"cpuSeconds"`
	}
	for done.Bytes == 0 { // the child's {"opened": true} line comes first
		done.Opened = false
		if !lines.Scan() || json.Unmarshal(lines.Bytes(), &done) != nil || (!done.Opened && done.Bytes < total) {
			return errors.New("the -pair-sink child did not receive everything")
		}
	}
	seconds, sender := time.Since(t0).Seconds(), cpuSeconds()-c0
	if stop != nil {
		stop()
	}
	result, _ := json.Marshal(message{"bytes": total, "seconds": seconds, "cpuSeconds": sender + done.CPUSeconds,
		"senderCpuSeconds": sender, "receiverCpuSeconds": done.CPUSeconds})
	fmt.Println(string(result))
	return nil
}

// pairSink is pairBench's child: it answers the offer read from stdin on stdout, prints
// {"opened": true} when the first channel opens, reads total bytes on it, prints {"bytes",
// "seconds", "cpuSeconds"} (wall and process CPU from the opening to the last byte) and exits
// when stdin closes. Any offerer can use it: bench_interop.py --third pion relays a browser's
// offer (the browser sends on the channel it created) to measure the browser → Pion.
func pairSink(total int) error {
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	var offer webrtc.SessionDescription
	if !lines.Scan() || json.Unmarshal(lines.Bytes(), &offer) != nil {
		return errors.New("no offer on stdin")
	}
	api, err := newAPI()
	if err != nil {
		return err
	}
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer b.Close()
	result := make(chan message, 1)
	var stdout sync.Mutex // the "opened" line and the answer/result lines
	var once sync.Once
	b.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() {
			first := false
			once.Do(func() { first = true })
			if !first {
				return // one channel is measured
			}
			raw, err := dc.Detach()
			if err != nil {
				result <- message{"error": err.Error()}
				return
			}
			c0, t0 := cpuSeconds(), time.Now()
			stdout.Lock()
			_ = json.NewEncoder(os.Stdout).Encode(message{"opened": true})
			stdout.Unlock()
			got, err := readAll(raw, total)
			if err != nil {
				result <- message{"error": err.Error()}
				return
			}
			result <- message{"bytes": got, "seconds": time.Since(t0).Seconds(), "cpuSeconds": cpuSeconds() - c0}
		})
	})
	if err := b.SetRemoteDescription(offer); err != nil {
		return err
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(b)
	if err := b.SetLocalDescription(answer); err != nil {
		return err
	}
	<-gathered
	stdout.Lock()
	err = json.NewEncoder(os.Stdout).Encode(b.LocalDescription())
	stdout.Unlock()
	if err != nil {
		return err
	}
	select {
	case m := <-result:
		stdout.Lock()
		defer stdout.Unlock()
		if err := json.NewEncoder(os.Stdout).Encode(m); err != nil {
			return err
		}
	case <-time.After(300 * time.Second):
		return errors.New("not all received within 300 s")
	}
	for lines.Scan() { // until the sender closes our stdin
	}
	return nil
}
