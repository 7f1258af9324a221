-- SIP over TLS and SDES-SRTP towards trunks: a trunk can require SRTP (offered RTP/SAVP
-- only; its transport must then be TLS), and name the certificate it presents when it is
-- configured by address (SNI and the name check).
ALTER TABLE trunks {add_column} srtp INTEGER NOT NULL DEFAULT 0 CHECK (srtp IN (0, 1));
ALTER TABLE trunks {add_column} tls_server_name VARCHAR(255) NOT NULL DEFAULT '';
