"""The hotel PMS interface (VIVAit Call's «Integración con CHAR»): a hotel's PMS, through
CHAR / hmobile connect, opens and closes room extensions (check-in, check-out), changes guest
data and rooms, sets do-not-disturb and message waiting, programmes wake-up calls and downloads
the rooms' calls; the PBX tells it the calls made from rooms, the status codes dialled there
and the wake-up calls' results. See README.md in this folder."""
