package kruptein_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/boltsession/boltsession/express/internal/kruptein"
)

// A file that session-file-store 1.5 wrote with `secret` and no `crypto`
// option decrypts with the zero Options; an app that did set `crypto`
// passes it to ParseCryptoOption as JSON.
func Example() {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "filestore-encrypted", "defaults", "aliceAAAAAAAAAAAAAAAAAAAAAAAAAAA.json"))
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := kruptein.New("boltsession test secret (not for production)", kruptein.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	sessionJSON, err := c.DecryptSessionFile(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	var s struct {
		User struct {
			Name string `json:"name"`
		} `json:"user"`
		Views int `json:"views"`
	}
	if err := json.Unmarshal(sessionJSON, &s); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.User.Name, s.Views)

	wrong, err := kruptein.New("another secret", kruptein.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = wrong.DecryptSessionFile(data)
	fmt.Println(errors.Is(err, kruptein.ErrWrongSecret))
	// Output:
	// alice 7
	// true
}
