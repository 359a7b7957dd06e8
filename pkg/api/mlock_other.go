//go:build !linux

package api

import "errors"

func lockMemory() error { return errors.New("--mlock is supported on Linux only") }
