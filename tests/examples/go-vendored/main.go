// A service whose dependency is vendored: it builds with no module proxy.
package main

import (
	"fmt"

	"example.com/minbase/shout"
)

func main() { fmt.Println(shout.Shout("hello from a vendored module")) }
