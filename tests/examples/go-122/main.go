// Needs Go 1.22: range over an int.
package main

import "fmt"

func main() {
	for i := range 3 {
		fmt.Println("tick", i)
	}
}
