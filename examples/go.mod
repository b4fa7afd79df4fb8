module github.com/boltsession/boltsession/examples

go 1.26

require github.com/boltsession/boltsession v0.0.0-00010101000000-000000000000

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/vmihailenco/msgpack/v5 v5.4.1 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)

replace github.com/boltsession/boltsession => ../
