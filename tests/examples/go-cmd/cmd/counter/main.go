// counter counts to three.
package main

import (
	"fmt"
	"strconv"

	"example.com/minbase/tools/internal/msg"
)

func main() {
	var words []string
	for i := 1; i <= 3; i++ {
		words = append(words, strconv.Itoa(i))
	}
	fmt.Println(msg.Line("counter", words...))
}
