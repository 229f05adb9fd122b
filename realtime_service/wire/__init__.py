"""What goes on the wire besides JSON: the SDP offer checks and answers of WebRTC signaling."""
