module pyrtcstack-pion-peer
