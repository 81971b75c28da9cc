// The peer's audio: a 440 Hz PCMU tone to us, and what it hears of ours (packets, energy).
package main

import (
	"math"
	"time"

	"github.com/pion/webrtc/v3"
	"github.com/pion/webrtc/v3/pkg/media"
)

// addMic adds the 440 Hz PCMU tone (on an offered m=audio, AddTrack reuses its transceiver,
// JSEP §5.10); it starts once connected.
func (r *run) addMic() error {
	track, err := webrtc.NewTrackLocalStaticSample(
		webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000, Channels: 1}, "audio", "pion")
	if err != nil {
		return err
	}
	sender, err := r.pc.AddTrack(track)
	if err != nil {
		return err
	}
	go func() { // RTCP must be read for the interceptors to run
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	r.mu.Lock()
	r.micAdded = true
	r.mu.Unlock()
	r.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		r.stateChanged(s)
		if s == webrtc.PeerConnectionStateConnected {
			r.mu.Lock()
			start := !r.toneStarted
			r.toneStarted = true
			r.mu.Unlock()
			if start {
				go tone(track, r.pc)
			}
		}
	})
	return nil
}

// linearToUlaw is G.711 µ-law (ITU-T G.711, with the usual bias of 0x84).
func linearToUlaw(x int) byte {
	sign := 0
	if x < 0 {
		sign, x = 0x80, -x
	}
	if x > 32635 {
		x = 32635
	}
	x += 0x84
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mantissa := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mantissa)
}

func ulawToLinear(u byte) int {
	u = ^u
	t := (int(u&0x0f)<<3 + 0x84) << ((u & 0x70) >> 4)
	if u&0x80 != 0 {
		return 0x84 - t
	}
	return t - 0x84
}

func tone(track *webrtc.TrackLocalStaticSample, pc *webrtc.PeerConnection) {
	phase := 0.0
	ticker := time.NewTicker(20 * time.Millisecond)
	defer ticker.Stop()
	for range ticker.C {
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = linearToUlaw(int(math.Round(8000 * math.Sin(phase))))
			phase += 2 * math.Pi * 440 / 8000
		}
		if err := track.WriteSample(media.Sample{Data: payload, Duration: 20 * time.Millisecond}); err != nil {
			return
		}
		if pc.ConnectionState() == webrtc.PeerConnectionStateClosed {
			return
		}
	}
}

// onTrack counts the RTP packets of our audio and sums its energy as the W3C
// totalAudioEnergy does (Σ (sample/32768)² × sample duration), from the decoded µ-law.
func (r *run) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	logf("track %s %s", track.Kind(), track.Codec().MimeType)
	go func() {
		for {
			pkt, _, err := track.ReadRTP()
			if err != nil {
				return
			}
			e := 0.0
			for _, u := range pkt.Payload {
				v := float64(ulawToLinear(u)) / 32768
				e += v * v / 8000
			}
			r.mu.Lock()
			r.rtpIn++
			r.energy += e
			r.mu.Unlock()
		}
	}()
}
