module github.com/boltsession/boltsession/express

go 1.26.0

require (
	github.com/boltsession/boltsession v0.1.0
	golang.org/x/crypto v0.59.0
)
