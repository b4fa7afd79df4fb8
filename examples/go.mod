module github.com/boltsession/boltsession/examples

go 1.26

require github.com/boltsession/boltsession v0.0.0-00010101000000-000000000000

replace github.com/boltsession/boltsession => ../
