//go:build !unix

package sqlitedb

import "os"

// Without flock the single-process rule is not enforced: run one participant per --db.
func tryLock(*os.File) (bool, error) { return true, nil }

func unlock(*os.File) {}
