package resultcache

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// identity names a file version by what the file system says about it: path, device, inode,
// size, modification and change times. Any write changes the change time, even one that restores
// the modification time.
func identity(path string, fi os.FileInfo) (string, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	s := fmt.Sprintf("%s\x00%d\x00%d\x00%d\x00%d\x00%d.%d", abs, st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano(), st.Ctim.Sec, st.Ctim.Nsec)
	return digestString(s), true
}
