module github.com/boltsession/boltsession/cmd/boltsession

go 1.26

require (
	github.com/boltsession/boltsession v0.1.0
	github.com/boltsession/boltsession/express v0.1.0
	github.com/boltsession/boltsession/gorillastore v0.1.0
	github.com/gorilla/sessions v1.4.0
	github.com/schollz/progressbar/v3 v3.19.1
	github.com/vmihailenco/msgpack/v5 v5.4.1
	go.etcd.io/bbolt v1.5.0
	golang.org/x/term v0.44.0
)

require (
	github.com/gorilla/securecookie v1.1.2 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/vmihailenco/tagparser/v2 v2.0.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
