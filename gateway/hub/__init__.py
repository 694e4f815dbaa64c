"""CTFs between schools, LAs and the S2S hub: the inbound Transfer path, routing, and the
Lost Pupils Database (search and claim at the hub, and the LA's side of both)."""
