// Package shout is a small module of our own, vendored (`go mod vendor`).
package shout

import "strings"

// Shout upper-cases s and adds an exclamation mark.
func Shout(s string) string { return strings.ToUpper(s) + "!" }
