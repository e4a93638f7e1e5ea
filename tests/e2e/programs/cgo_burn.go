// e2e program (built by the unwind e2e test with `go build`): Go code of a cgo program
// burning CPU through two Go functions, for the frame-pointer walk of Go frames.
package main

/*
static int c_add(int a, int b) { return a + b; }
*/
import "C"

import (
	"fmt"
	"time"
)

var sink float64

//go:noinline
func burnInner(n int) float64 {
	x := 0.0
	for i := 0; i < n; i++ {
		x += float64(i) * 0.5
	}
	return x
}

//go:noinline
func burnOuter(n int) float64 {
	return burnInner(n) + 1
}

func main() {
	fmt.Println(C.c_add(1, 2))
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		sink += burnOuter(1000000)
	}
}
