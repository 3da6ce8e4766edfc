// Package msg is shared by the module's commands (not a main package).
package msg

import "strings"

// Line joins a command's name and its words the way every command prints.
func Line(cmd string, words ...string) string {
	return cmd + ": " + strings.Join(words, " ")
}
