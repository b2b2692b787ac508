// Answers tree, proof and tile queries with golang.org/x/mod/sumdb/tlog, for
// crates/tlog/tests/tree_go.rs. Reads query lines on stdin, writes one answer
// line per query on stdout:
//
//	size N         -> builds a log of records "record 0" .. "record N-1"; answers "ok"
//	root T         -> base64 tree hash of size T
//	incl T N       -> inclusion proof of record N in size T, base64 hashes joined by ","
//	cons T N       -> consistency proof from N to T, same format
//	tiles OLD NEW  -> tlog.NewTiles(8, OLD, NEW) paths joined by ","
//	tile PATH      -> base64 of the tile's data, read from the log's stored hashes
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

type storage []tlog.Hash

func (s storage) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("index %d not stored", x)
		}
		out[i] = s[x]
	}
	return out, nil
}

func hashes(list []tlog.Hash) string {
	parts := make([]string, len(list))
	for i, h := range list {
		parts[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return strings.Join(parts, ",")
}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail(err)
	}
	return n
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	var s storage
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		switch f[0] {
		case "size":
			for i := int64(0); i < num(f[1]); i++ {
				h, err := tlog.StoredHashes(i, []byte(fmt.Sprintf("record %d", i)), s)
				if err != nil {
					fail(err)
				}
				s = append(s, h...)
			}
			fmt.Fprintln(out, "ok")
		case "root":
			h, err := tlog.TreeHash(num(f[1]), s)
			if err != nil {
				fail(err)
			}
			fmt.Fprintln(out, base64.StdEncoding.EncodeToString(h[:]))
		case "incl":
			p, err := tlog.ProveRecord(num(f[1]), num(f[2]), s)
			if err != nil {
				fail(err)
			}
			fmt.Fprintln(out, hashes(p))
		case "cons":
			p, err := tlog.ProveTree(num(f[1]), num(f[2]), s)
			if err != nil {
				fail(err)
			}
			fmt.Fprintln(out, hashes(p))
		case "tiles":
			var paths []string
			for _, t := range tlog.NewTiles(8, num(f[1]), num(f[2])) {
				paths = append(paths, t.Path())
			}
			fmt.Fprintln(out, strings.Join(paths, ","))
		case "tile":
			t, err := tlog.ParseTilePath(f[1])
			if err != nil {
				fail(err)
			}
			data, err := tlog.ReadTileData(t, s)
			if err != nil {
				fail(err)
			}
			fmt.Fprintln(out, base64.StdEncoding.EncodeToString(data))
		default:
			fail(fmt.Errorf("unknown query %q", f[0]))
		}
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
}
