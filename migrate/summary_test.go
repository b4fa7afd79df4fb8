package migrate_test

import (
	"errors"
	"fmt"

	"github.com/boltsession/boltsession/migrate"
)

func ExampleSummary_String() {
	sum := migrate.Summary{Imported: 1200, Expired: 85, Ignored: 1, Skipped: []migrate.Skip{
		{File: "x.json", Reason: migrate.ReasonCorrupt, Err: errors.New("unexpected end of JSON input")},
	}}
	fmt.Println(sum)
	// Output:
	// imported 1200, expired 85, skipped 1, ignored 1
	//   x.json: corrupt: unexpected end of JSON input
}
