//go:build !unix && !windows

package schema

import (
	"errors"
	"os"
)

var errNoFileLock = errors.New("file locking is not supported on this platform")

func tryLockFile(*os.File) (bool, error) { return false, errNoFileLock }

func unlockFile(*os.File) error { return errNoFileLock }
