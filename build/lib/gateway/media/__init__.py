"""Media: the WebRTC leg (aiortc), the plain RTP leg and the payload relay between them."""
