"""The launcher: the ``webfon`` command, the supervisor behind ``webfon up``, the demo
organisation, the embedded default configuration files, the nginx site renderer and the
single-origin web front used when no nginx runs."""
