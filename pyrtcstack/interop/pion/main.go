// Pion WebRTC (Go) as the remote side of pyrtcstack's interop harness.
//
//	pion-peer http://127.0.0.1:PORT/
//
// It speaks the same HTTP signaling as assets/peer.js (the browsers and werift): GET /config,
// then for each scenario POST /msg and GET /poll (docs/interop.md). Like peer.js it is
// deliberately dumb: it offers or answers, trickles or not, echoes every data channel
// message on the same channel with the same type, closes a channel on "__close__", posts
// its stats on "__stats__" or "stats", restarts ICE on "restart", and sends a 440 Hz PCMU
// tone when the scenario has audio. Python decides and checks everything.
//
// Built offline by pyrtcstack/interop/launchers.py (GOPATH mode against Debian's
// golang-github-pion-webrtc.v3-dev under /usr/share/gocode; nothing is downloaded).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/ice/v2"
	"github.com/pion/transport/v2"
	"github.com/pion/transport/v2/stdnet"
	"github.com/pion/webrtc/v3"
)

// receiveBuffer is the SO_RCVBUF asked for Pion's UDP sockets: with the kernel default
// (~208 KiB) Pion drops datagrams when a fast sender fills loopback.
const receiveBuffer = 4 << 20

// readBuffer bounds one data channel message read (the OnMessage API reads into 65,535
// bytes and closes the channel on a larger message, so the peer uses detached channels).
const readBuffer = 1 << 20

// maxPollFailures failed polls in a row end the program: the harness is gone.
const maxPollFailures = 5

var errHarnessGone = errors.New("the harness does not answer")

type channelOptions struct {
	Ordered           *bool   `json:"ordered"`
	MaxRetransmits    *uint16 `json:"maxRetransmits"`
	MaxPacketLifeTime *uint16 `json:"maxPacketLifeTime"`
	Protocol          *string `json:"protocol"`
	Negotiated        *bool   `json:"negotiated"`
	ID                *uint16 `json:"id"`
}

type channelSpec struct {
	Label   string         `json:"label"`
	Options channelOptions `json:"options"`
}

type iceServer struct {
	URLs       json.RawMessage `json:"urls"`
	Username   string          `json:"username"`
	Credential string          `json:"credential"`
}

type pcConfig struct {
	IceServers         []iceServer `json:"iceServers"`
	IceTransportPolicy string      `json:"iceTransportPolicy"`
}

type scenario struct {
	Name         string        `json:"name"`
	Role         string        `json:"role"`
	Trickle      bool          `json:"trickle"`
	Audio        bool          `json:"audio"`
	PeerChannels []channelSpec `json:"peerChannels"`
	TimeoutMs    int           `json:"timeoutMs"`
	PcConfig     *pcConfig     `json:"pcConfig"`
}

type config struct {
	Scenarios []scenario `json:"scenarios"`
}

type message map[string]interface{}

var (
	base   *url.URL
	client = &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	t0     = time.Now()
	logMu  sync.Mutex
	logBuf []string
)

// logf records a line for the harness's peer log (sent with "ended") and prints it.
func logf(format string, args ...interface{}) {
	line := fmt.Sprintf("%dms %s", time.Since(t0).Milliseconds(), fmt.Sprintf(format, args...))
	fmt.Fprintln(os.Stderr, line)
	logMu.Lock()
	logBuf = append(logBuf, line)
	logMu.Unlock()
}

func takeLog() []string {
	logMu.Lock()
	defer logMu.Unlock()
	out := logBuf
	logBuf = nil
	return out
}

func endpoint(rel string) string {
	ref, err := url.Parse(rel)
	if err != nil {
		panic(err)
	}
	return base.ResolveReference(ref).String()
}

func post(m message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	resp, err := client.Post(endpoint("msg"), "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /msg -> HTTP %d", resp.StatusCode)
	}
	return nil
}

func getJSON(rel string, out interface{}) error {
	resp, err := client.Get(endpoint(rel))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s -> HTTP %d", rel, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// bufferedNet is Pion's standard network with a larger receive buffer on every UDP socket.
type bufferedNet struct {
	*stdnet.Net
}

func growReceiveBuffer(conn interface{}) {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			forced := false
			_ = raw.Control(func(fd uintptr) {
				// SO_RCVBUFFORCE passes net.core.rmem_max when we may (root, as the suite).
				forced = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, receiveBuffer) == nil
			})
			if forced {
				return
			}
		}
	}
	if rb, ok := conn.(interface{ SetReadBuffer(int) error }); ok {
		_ = rb.SetReadBuffer(receiveBuffer)
	}
}

func (n bufferedNet) ListenUDP(network string, addr *net.UDPAddr) (transport.UDPConn, error) {
	conn, err := n.Net.ListenUDP(network, addr)
	if err == nil {
		growReceiveBuffer(conn)
	}
	return conn, err
}

func (n bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	conn, err := n.Net.ListenPacket(network, address)
	if err == nil {
		growReceiveBuffer(conn)
	}
	return conn, err
}

func newAPI() (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	// PCMU only: what the harness's audio checks use (RFC 3551 static payload type 0).
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1},
		PayloadType:        0,
	}, webrtc.RTPCodecTypeAudio)
	if err != nil {
		return nil, err
	}
	s := webrtc.SettingEngine{}
	s.DetachDataChannels()
	// Loopback only: Pion skips loopback unless asked, and gathers nowhere else here.
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	std, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	s.SetNet(bufferedNet{std})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(s)), nil
}

func rtcConfiguration(sc scenario) webrtc.Configuration {
	cfg := webrtc.Configuration{}
	if sc.PcConfig == nil {
		return cfg
	}
	for _, server := range sc.PcConfig.IceServers {
		var urls []string
		var one string
		if json.Unmarshal(server.URLs, &one) == nil {
			urls = []string{one}
		} else {
			_ = json.Unmarshal(server.URLs, &urls)
		}
		entry := webrtc.ICEServer{URLs: urls}
		if server.Username != "" {
			entry.Username = server.Username
			entry.Credential = server.Credential
			entry.CredentialType = webrtc.ICECredentialTypePassword
		}
		cfg.ICEServers = append(cfg.ICEServers, entry)
	}
	if sc.PcConfig.IceTransportPolicy != "" {
		cfg.ICETransportPolicy = webrtc.NewICETransportPolicy(sc.PcConfig.IceTransportPolicy)
	}
	return cfg
}

// run is one scenario's state.
type run struct {
	index int
	sc    scenario
	pc    *webrtc.PeerConnection

	outbox chan message // every POST goes through one goroutine: the harness sees our order

	mu          sync.Mutex
	ended       bool      // outbox closed: late events (a channel closing) are dropped
	held        []message // trickled candidates gathered before their description was posted
	holding     bool
	mid         string // the bundled m-section's mid, for our trickled candidates
	channels    []*webrtc.DataChannel
	rtpIn       int
	energy      float64
	micAdded    bool
	toneStarted bool
}

// send queues a message (POSTs stay in order; each is retried a few times).
func (r *run) send(m message) {
	m["scenario"] = r.index
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ended {
		r.outbox <- m
	}
}

// finish sends the last message and stops the poster.
func (r *run) finish(m message) {
	r.send(m)
	r.mu.Lock()
	r.ended = true
	close(r.outbox)
	r.mu.Unlock()
}

func (r *run) poster(done chan struct{}) {
	defer close(done)
	for m := range r.outbox {
		for attempt := 1; ; attempt++ {
			err := post(m)
			if err == nil {
				break
			}
			logf("POST %v failed (attempt %d): %v", m["kind"], attempt, err)
			if attempt >= 5 {
				break
			}
			time.Sleep(time.Duration(100*attempt) * time.Millisecond)
		}
	}
}

// describe posts the local description (non-trickle: once gathering completed, with every
// candidate in it), then the candidates held back while it was being made.
func (r *run) describe(gathered <-chan struct{}) {
	if gathered != nil {
		<-gathered
	}
	d := r.pc.LocalDescription()
	r.send(message{"kind": "description", "description": message{"type": d.Type.String(), "sdp": d.SDP}})
	r.mu.Lock()
	r.mid = firstMid(d.SDP)
	held := r.held
	r.held, r.holding = nil, false
	r.mu.Unlock()
	for _, m := range held {
		if cand, ok := m["candidate"].(message); ok {
			cand["sdpMid"] = r.mid
		}
		r.send(m)
	}
}

// setLocal applies an offer or answer; trickled candidates wait until it is posted.
func (r *run) setLocal(d webrtc.SessionDescription) error {
	var gathered <-chan struct{}
	if !r.sc.Trickle {
		gathered = webrtc.GatheringCompletePromise(r.pc)
	}
	r.mu.Lock()
	r.holding = true
	r.mu.Unlock()
	if err := r.pc.SetLocalDescription(d); err != nil {
		return err
	}
	r.describe(gathered)
	return nil
}

// firstMid is the mid of the first m-section (Pion bundles everything onto it).
func firstMid(sdp string) string {
	for _, line := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(line, "a=mid:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "a=mid:"))
		}
	}
	return "0"
}

func (r *run) onCandidate(c *webrtc.ICECandidate) {
	if !r.sc.Trickle {
		return
	}
	var m message
	if c == nil {
		m = message{"kind": "candidate", "candidate": nil}
	} else {
		// Pion's ToJSON gives sdpMid "" and no ufrag: name the bundled section as a
		// browser does. (Not r.pc.LocalDescription() here: Pion calls this handler while
		// SetLocalDescription holds its lock.)
		ci := c.ToJSON()
		m = message{"kind": "candidate", "candidate": message{"candidate": ci.Candidate, "sdpMLineIndex": 0}}
	}
	r.mu.Lock()
	if cand, ok := m["candidate"].(message); ok {
		cand["sdpMid"] = r.mid
	}
	if r.holding {
		r.held = append(r.held, m)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.send(m)
}

// wire echoes on a channel: detached, so messages up to readBuffer bytes (the OnMessage
// API stops at 65,535).
func (r *run) wire(dc *webrtc.DataChannel) {
	r.mu.Lock()
	r.channels = append(r.channels, dc)
	r.mu.Unlock()
	dc.OnOpen(func() {
		id := -1
		if dc.ID() != nil {
			id = int(*dc.ID())
		}
		logf("channel %s (id %d) open", dc.Label(), id)
		r.send(message{"kind": "open", "label": dc.Label(), "id": id})
		raw, err := dc.Detach()
		if err != nil {
			logf("detach %s: %v", dc.Label(), err)
			return
		}
		if strings.HasPrefix(dc.Label(), "bench-") {
			go bench(dc, raw)
			return
		}
		go r.echo(dc, raw, id)
	})
}

func (r *run) echo(dc *webrtc.DataChannel, raw datachannel.ReadWriteCloser, id int) {
	buf := make([]byte, readBuffer)
	for {
		n, isString, err := raw.ReadDataChannel(buf)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				logf("read on %s: %v", dc.Label(), err)
			}
			logf("channel %s (id %d) closed", dc.Label(), id)
			r.send(message{"kind": "closed", "label": dc.Label(), "id": id})
			return
		}
		data := append([]byte(nil), buf[:n]...)
		if isString {
			switch string(data) {
			case "__close__":
				logf("closing %s (id %d) as asked", dc.Label(), id)
				_ = dc.Close()
				continue
			case "__stats__":
				go r.stats("channel")
				continue
			}
		}
		if _, err := raw.WriteDataChannel(data, isString); err != nil {
			logf("echo on %s failed: %v", dc.Label(), err)
			r.send(message{"kind": "echo-error", "label": dc.Label(), "error": err.Error()})
		}
	}
}

func (r *run) makeChannel(spec channelSpec) error {
	o := spec.Options
	opts := &webrtc.DataChannelInit{
		Ordered: o.Ordered, MaxRetransmits: o.MaxRetransmits, MaxPacketLifeTime: o.MaxPacketLifeTime,
		Protocol: o.Protocol, Negotiated: o.Negotiated, ID: o.ID,
	}
	dc, err := r.pc.CreateDataChannel(spec.Label, opts)
	if err != nil {
		return err
	}
	r.wire(dc)
	return nil
}

func (r *run) stateChanged(s webrtc.PeerConnectionState) {
	logf("pc %s", s)
	r.send(message{"kind": "state", "state": s.String()})
}

func candidateStats(c *webrtc.ICECandidate) message {
	return message{"port": c.Port, "address": c.Address, "candidateType": c.Typ.String(), "protocol": c.Protocol.String()}
}

// stats posts the summary peer.js's summarizeStats makes: the selected pair's candidates and
// our audio as inbound-rtp. Pion's API has no DTLS cipher or version to report.
func (r *run) stats(why string) {
	out := message{"transport": nil, "pair": nil, "local": nil, "remote": nil,
		"inbound": []message{}, "outbound": []message{}, "codecs": []message{}}
	if sctp := r.pc.SCTP(); sctp != nil {
		pair, err := sctp.Transport().ICETransport().GetSelectedCandidatePair()
		if err == nil && pair != nil {
			out["local"] = candidateStats(pair.Local)
			out["remote"] = candidateStats(pair.Remote)
			out["pair"] = message{"state": "succeeded", "nominated": true}
		}
		out["transport"] = message{"dtlsState": sctp.Transport().State().String()}
	}
	r.mu.Lock()
	if r.sc.Audio {
		out["inbound"] = []message{{"kind": "audio", "packetsReceived": r.rtpIn, "codecId": "pion-pcmu", "totalAudioEnergy": r.energy}}
		out["codecs"] = []message{{"id": "pion-pcmu", "mimeType": "audio/PCMU"}}
	}
	r.mu.Unlock()
	r.send(message{"kind": "stats", "why": why, "stats": out, "maxMessageSize": nil})
}

func runScenario(api *webrtc.API, i int, sc scenario) (err error) {
	logf("scenario %d %s role=%s trickle=%v", i, sc.Name, sc.Role, sc.Trickle)
	r := &run{index: i, sc: sc, outbox: make(chan message, 10000)}
	posted := make(chan struct{})
	go r.poster(posted)
	defer func() {
		if err != nil {
			logf("scenario %d error %v", i, err)
			r.send(message{"kind": "error", "error": err.Error()})
		}
		r.finish(message{"kind": "ended", "log": takeLog()})
		<-posted
		if r.pc != nil {
			_ = r.pc.Close()
		}
	}()
	if r.pc, err = api.NewPeerConnection(rtcConfiguration(sc)); err != nil {
		return err
	}
	r.pc.OnICECandidate(r.onCandidate)
	r.pc.OnConnectionStateChange(r.stateChanged)
	r.pc.OnDataChannel(r.wire)
	for _, spec := range sc.PeerChannels {
		if err := r.makeChannel(spec); err != nil {
			return err
		}
	}
	if sc.Audio {
		r.pc.OnTrack(r.onTrack)
		if sc.Role == "peer-offers" {
			if err := r.addMic(); err != nil {
				return err
			}
		}
	}
	if sc.Role == "peer-offers" {
		offer, err := r.pc.CreateOffer(nil)
		if err != nil {
			return err
		}
		if err := r.setLocal(offer); err != nil {
			return err
		}
	}
	timeout := time.Duration(sc.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	deadline := time.Now().Add(timeout)
	after, failures := 0, 0
	for time.Now().Before(deadline) {
		var reply struct {
			Messages []json.RawMessage `json:"messages"`
		}
		if err := getJSON(fmt.Sprintf("poll?scenario=%d&after=%d", i, after), &reply); err != nil {
			logf("poll: %v", err)
			if failures++; failures >= maxPollFailures {
				return fmt.Errorf("%d failed polls in a row: %w", failures, errHarnessGone)
			}
			time.Sleep(200 * time.Millisecond)
			continue
		}
		failures = 0
		for _, rawMsg := range reply.Messages {
			var m struct {
				Seq         int                        `json:"seq"`
				Kind        string                     `json:"kind"`
				Description *webrtc.SessionDescription `json:"description"`
				Candidate   *webrtc.ICECandidateInit   `json:"candidate"`
				Spec        *channelSpec               `json:"spec"`
			}
			if err := json.Unmarshal(rawMsg, &m); err != nil {
				return fmt.Errorf("bad message from the harness: %w", err)
			}
			after = m.Seq
			switch m.Kind {
			case "description":
				if m.Description == nil {
					return errors.New("description message without a description")
				}
				if err := r.pc.SetRemoteDescription(*m.Description); err != nil {
					return err
				}
				if m.Description.Type == webrtc.SDPTypeOffer {
					r.mu.Lock()
					needMic := sc.Audio && !r.micAdded
					r.mu.Unlock()
					if needMic {
						if err := r.addMic(); err != nil {
							return err
						}
					}
					answer, err := r.pc.CreateAnswer(nil)
					if err != nil {
						return err
					}
					if err := r.setLocal(answer); err != nil {
						return err
					}
				} else {
					r.send(message{"kind": "applied", "type": m.Description.Type.String()})
				}
			case "candidate":
				if m.Candidate == nil || m.Candidate.Candidate == "" {
					continue // end of candidates: Pion has no addIceCandidate(null)
				}
				if err := r.pc.AddICECandidate(*m.Candidate); err != nil {
					logf("addIceCandidate failed: %v", err)
				}
			case "channel":
				if m.Spec != nil {
					if err := r.makeChannel(*m.Spec); err != nil {
						logf("createDataChannel failed: %v", err)
					}
				}
			case "restart":
				offer, err := r.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
				if err != nil {
					return err
				}
				if err := r.setLocal(offer); err != nil {
					return err
				}
			case "stats":
				r.stats("asked")
			case "end":
				return nil
			}
		}
	}
	return nil
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "-self-bench" {
		total, err := strconv.Atoi(os.Args[2])
		size, err2 := strconv.Atoi(os.Args[3])
		if err != nil || err2 != nil || total <= 0 || total > maxBench || size <= 0 || size > readBuffer {
			fmt.Fprintln(os.Stderr, "usage: pion-peer -self-bench BYTES MESSAGE_SIZE")
			os.Exit(2)
		}
		if err := selfBench(total, size); err != nil {
			fmt.Fprintf(os.Stderr, "pion self-bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "-pair-bench" {
		total, err := strconv.Atoi(os.Args[2])
		size, err2 := strconv.Atoi(os.Args[3])
		if err != nil || err2 != nil || total <= 0 || total > maxBench || size <= 0 || size > readBuffer {
			fmt.Fprintln(os.Stderr, "usage: pion-peer -pair-bench BYTES MESSAGE_SIZE")
			os.Exit(2)
		}
		if err := pairBench(total, size); err != nil {
			fmt.Fprintf(os.Stderr, "pion pair-bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) == 3 && os.Args[1] == "-pair-sink" {
		total, err := strconv.Atoi(os.Args[2])
		if err != nil || total <= 0 || total > maxBench {
			fmt.Fprintln(os.Stderr, "usage: pion-peer -pair-sink BYTES (stdin: the offer)")
			os.Exit(2)
		}
		if err := pairSink(total); err != nil {
			fmt.Fprintf(os.Stderr, "pion pair-sink: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if (len(os.Args) == 3 || len(os.Args) == 4) && os.Args[1] == "-setup-bench" {
		n, err := strconv.Atoi(os.Args[2])
		ahead := len(os.Args) == 4 && os.Args[3] == "-ahead"
		if err != nil || n <= 0 || n > 10000 || (len(os.Args) == 4 && !ahead) {
			fmt.Fprintln(os.Stderr, "usage: pion-peer -setup-bench COUNT (1..10000) [-ahead]")
			os.Exit(2)
		}
		if err := setupBench(n, ahead); err != nil {
			fmt.Fprintf(os.Stderr, "pion setup-bench: %v\n", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: pion-peer http://127.0.0.1:PORT/")
		os.Exit(2)
	}
	var err error
	if base, err = url.Parse(os.Args[1]); err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		fmt.Fprintln(os.Stderr, "pion peer: the argument must be an http(s):// URL")
		os.Exit(2)
	}
	time.AfterFunc(10*time.Minute, func() {
		fmt.Fprintln(os.Stderr, "pion peer: overall timeout")
		os.Exit(3)
	})
	var cfg config
	if err := getJSON("config", &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "pion peer: GET /config: %v\n", err)
		os.Exit(1)
	}
	api, err := newAPI()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pion peer: %v\n", err)
		os.Exit(1)
	}
	for i, sc := range cfg.Scenarios {
		if err := runScenario(api, i, sc); errors.Is(err, errHarnessGone) {
			fmt.Fprintf(os.Stderr, "pion peer: %v\n", err)
			os.Exit(1)
		}
	}
	_ = post(message{"scenario": -1, "kind": "done", "log": takeLog()})
}
