// Command crashserver is the server that the crash test kills. It counts per
// session and key (POST /incr?key=K) and logs out (POST /logout), and
// answers a request only after the middleware has saved or deleted the
// session, so a response that arrived is an acknowledged change.
//
//	crashserver -db sessions.db -key HEX [-nosync]
//
// It prints "listening http://ADDR" once it accepts connections.
package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/boltsession/boltsession"
)

func main() {
	dbPath := flag.String("db", "sessions.db", "session file")
	keyHex := flag.String("key", "", "cookie hash key, hex")
	noSync := flag.Bool("nosync", false, "open the store with NoSync")
	flag.Parse()

	key, err := hex.DecodeString(*keyHex)
	if err != nil {
		log.Fatalf("crashserver: -key: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, err := boltsession.Open(*dbPath, &boltsession.BoltOptions{NoSync: *noSync, SweepInterval: -1, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	m, err := boltsession.New(store, boltsession.Options{Keys: [][]byte{key}, MaxAge: time.Hour, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr", func(w http.ResponseWriter, r *http.Request) {
		s := boltsession.FromContext(r.Context())
		k := r.URL.Query().Get("key")
		n, err := boltsession.Get[int](s, k)
		if err != nil && !errors.Is(err, boltsession.ErrNoValue) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := s.Set(k, n+1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Writing the body is the commit point: the save happens before
		// the status line goes out.
		fmt.Fprint(w, strconv.Itoa(n+1))
	})
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		boltsession.FromContext(r.Context()).Destroy()
		fmt.Fprint(w, "bye")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, m.Middleware(mux)))
}
