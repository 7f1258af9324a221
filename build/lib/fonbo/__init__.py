"""FONBO: the user-portal and admin API (agenda, history, voicemail, forwarding, phones …)
with realtime events over Socket.IO."""
