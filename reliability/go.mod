module github.com/boltsession/boltsession/reliability

go 1.26

require github.com/boltsession/boltsession v0.0.0

require go.uber.org/goleak v1.3.0 // indirect

replace github.com/boltsession/boltsession => ../
