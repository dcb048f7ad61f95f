package main

import (
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" driver (cgo)
	_ "modernc.org/sqlite"          // the "sqlite" driver
)
