// greeter prints a greeting, its version (set with -ldflags -X) and its
// build flavour (set with -tags).
package main

import (
	"fmt"
	"os"

	"example.com/minbase/tools/internal/msg"
)

var version = "dev"

// flavour is replaced by extra.go when built with -tags extra.
var flavour = "plain"

func main() {
	who := "world"
	if len(os.Args) > 1 {
		who = os.Args[1]
	}
	fmt.Println(msg.Line("greeter", "hello", who))
	fmt.Println(msg.Line("greeter", "version", version, "flavour", flavour))
}
