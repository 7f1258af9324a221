-- Call quality with each call's CDR rows: the E-model MOS, the worst loss (%) and jitter (ms)
-- on any leg, the end-to-end round trip (ms), and every leg's figures as JSON (which node,
-- the endpoint's address and network, codec, SRTP). NULL: no media was measured.
ALTER TABLE cdr {add_column} mos DOUBLE;
ALTER TABLE cdr {add_column} loss_pct DOUBLE;
ALTER TABLE cdr {add_column} jitter_ms DOUBLE;
ALTER TABLE cdr {add_column} rtt_ms DOUBLE;
ALTER TABLE cdr {add_column} quality {text};
