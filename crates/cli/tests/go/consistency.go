// Checks a log served over HTTP with golang.org/x/mod (sumdb/tlog, sumdb/note),
// independently of bintrail, for crates/cli/tests/cloud.rs and migrate.rs: reads query
// lines on stdin, writes "ok" per line ("ok N" for a checkpoint note, N its tree size).
//
//	log URL              -> the log's base URL (tiles at URL/tile/L/NNN[.p/W])
//	vkey KEY             -> the log's verifier key, for the notes that follow
//	latest N ROOT        -> the latest tree (base64 root); checks its hash from the tiles
//	latest-note NOTE     -> the same for the tree of base64 checkpoint NOTE, verified with vkey
//	old N ROOT           -> checks that the tree (N, ROOT) is a prefix of the latest
//	old-note NOTE        -> the same for the tree of base64 checkpoint NOTE, verified with vkey
//	record I ENTRY       -> checks that base64 ENTRY is the record at index I of the latest
package main

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// tiles reads C2SP tlog-tiles hash tiles (x/mod names them tile/8/L/N; C2SP drops the 8).
type tiles struct{ base string }

func (t tiles) Height() int { return 8 }

func (t tiles) ReadTiles(list []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(list))
	for i, tile := range list {
		path := strings.Replace(tile.Path(), "tile/8/", "tile/", 1)
		resp, err := http.Get(t.base + "/" + path)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		if resp.StatusCode != 200 {
			return nil, fmt.Errorf("%s: HTTP %d", path, resp.StatusCode)
		}
		out[i] = data
	}
	return out, nil
}

func (t tiles) SaveTiles([]tlog.Tile, [][]byte) {}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail(err)
	}
	return n
}

func hash(s string) tlog.Hash {
	h, err := tlog.ParseHash(s)
	if err != nil {
		fail(err)
	}
	return h
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// open verifies base64 checkpoint note b64 with v and returns its tree.
func open(b64 string, v note.Verifier) tlog.Tree {
	if v == nil {
		fail(fmt.Errorf("a checkpoint note before the vkey query"))
	}
	msg, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		fail(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		fail(err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 || lines[0] != v.Name() {
		fail(fmt.Errorf("not a checkpoint of %s: %q", v.Name(), n.Text))
	}
	return tlog.Tree{N: num(lines[1]), Hash: hash(lines[2])}
}

func main() {
	var base string
	var verifier note.Verifier
	var latest tlog.Tree
	var reader tlog.HashReader
	// setLatest reads the tiles for tree t and checks that they hash to its root.
	setLatest := func(t tlog.Tree) {
		latest = t
		reader = tlog.TileHashReader(latest, tiles{base})
		h, err := tlog.TreeHash(latest.N, reader)
		if err != nil {
			fail(err)
		}
		if h != latest.Hash {
			fail(fmt.Errorf("tree %d: tiles hash to %v, checkpoint says %v", latest.N, h, latest.Hash))
		}
	}
	// checkOld checks that tree (n, h) is a prefix of the latest.
	checkOld := func(n int64, h tlog.Hash) {
		p, err := tlog.ProveTree(latest.N, n, reader)
		if err != nil {
			fail(fmt.Errorf("prove %d -> %d: %v", n, latest.N, err))
		}
		if err := tlog.CheckTree(p, latest.N, latest.Hash, n, h); err != nil {
			fail(fmt.Errorf("checkpoint %d is not a prefix of %d: %v", n, latest.N, err))
		}
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		f := strings.Fields(in.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "log":
			base = f[1]
		case "vkey":
			v, err := note.NewVerifier(f[1])
			if err != nil {
				fail(err)
			}
			verifier = v
		case "latest":
			setLatest(tlog.Tree{N: num(f[1]), Hash: hash(f[2])})
		case "latest-note":
			t := open(f[1], verifier)
			setLatest(t)
			fmt.Println("ok", t.N)
			continue
		case "old":
			checkOld(num(f[1]), hash(f[2]))
		case "old-note":
			t := open(f[1], verifier)
			checkOld(t.N, t.Hash)
			fmt.Println("ok", t.N)
			continue
		case "record":
			i := num(f[1])
			entry, err := base64.StdEncoding.DecodeString(f[2])
			if err != nil {
				fail(err)
			}
			p, err := tlog.ProveRecord(latest.N, i, reader)
			if err != nil {
				fail(fmt.Errorf("prove record %d: %v", i, err))
			}
			if err := tlog.CheckRecord(p, latest.N, latest.Hash, i, tlog.RecordHash(entry)); err != nil {
				fail(fmt.Errorf("record %d: %v", i, err))
			}
		default:
			fail(fmt.Errorf("unknown query %q", f[0]))
		}
		fmt.Println("ok")
	}
	if err := in.Err(); err != nil {
		fail(err)
	}
}
