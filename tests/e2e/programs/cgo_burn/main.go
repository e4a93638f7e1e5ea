// A Go program built with cgo (Go's runtime then calls libc's sigaction and runs goroutines
// on small stacks): goroutines burn CPU and call into C while the agent samples at 1000 Hz.
// Every agent handler must be SA_ONSTACK, or SIGPROF lands on a goroutine stack and the Go
// runtime dies ("unexpected fault address", "fatal error").
package main

/*
static unsigned long c_burn(unsigned long n) {
	volatile unsigned long s = 0;
	for (unsigned long i = 0; i < n; ++i) s += i * 3;
	return s;
}
*/
import "C"

import (
	"fmt"
	"os"
	"strconv"
	"sync"
)

//go:noinline
func goBurn(n int) int {
	s := 0
	for i := 0; i < n; i++ {
		s += i * 7 % 13
		if i%4096 == 0 {
			b := make([]byte, 64) // goroutine stack growth and GC under sampling
			s += len(b)
		}
	}
	return s
}

func main() {
	rounds := 40
	if len(os.Args) > 1 {
		rounds, _ = strconv.Atoi(os.Args[1])
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				v := goBurn(200000) + int(C.c_burn(200000))
				mu.Lock()
				total += v & 1
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Println("cgo done")
}
