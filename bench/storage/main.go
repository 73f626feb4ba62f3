// Command storage measures Fluxbase's file storage against baselines run on
// the same machine in the same run, because the machines it runs on are
// shared and noisy: only ratios are comparable between runs.
//
// For each backend (local disk and S3, the latter on a versitygw server it
// starts) it measures:
//
//   - a large transfer (1 GiB by default) uploaded and downloaded through
//     Fluxbase's storage API, against `cp` (local: the upload baseline also
//     fsyncs, as Fluxbase does; the download, saved to a file, against cp
//     of the stored file to a file, and discarded, against cp to
//     /dev/null; a bare net/http server's download saved to a file, against
//     the same cp, bounds what any HTTP server reaches) or direct minio-go
//     put and get (S3; the S3 download is
//     also compared, for reference, with a bare net/http relay that
//     splices S3's answer to the client: the cost of the extra hop alone);
//   - the peak resident memory of the Fluxbase process during those
//     transfers, above what it used before (VmHWM after resetting it, read
//     from /proc);
//   - 4 KiB objects uploaded and downloaded by 50 concurrent clients,
//     against the same work done directly (temporary file, fsync and rename
//     for local; minio-go for S3).
//
// Fluxbase runs as a separate process (the built binary with its embedded
// PostgreSQL), so that its memory is measured alone.
//
//	go run ./bench/storage -binary bin/fluxbase -versitygw bin/tools/versitygw
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/fluxbase/fluxbase/bench/internal/benchproc"
)

type options struct {
	binary, versitygw string
	size              int64
	runs              int
	small             int
	clients           int
	backends          []string
	keep              bool
}

func main() {
	var o options
	var backends string
	flag.StringVar(&o.binary, "binary", "bin/fluxbase", "the fluxbase binary to measure")
	flag.StringVar(&o.versitygw, "versitygw", "bin/tools/versitygw", "the versitygw binary (the S3 server)")
	flag.Int64Var(&o.size, "size", 1<<30, "bytes of the large transfer")
	flag.IntVar(&o.runs, "runs", 3, "repetitions of each large transfer (the median is reported)")
	flag.IntVar(&o.small, "small", 2000, "number of 4 KiB objects")
	flag.IntVar(&o.clients, "clients", 50, "concurrent clients for the 4 KiB objects")
	flag.StringVar(&backends, "backends", "local,s3", "backends to measure")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory")
	flag.Parse()
	o.backends = strings.Split(backends, ",")
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-storage:", err)
		os.Exit(1)
	}
}

// result is one measured row.
type result struct {
	backend, what        string
	fluxbase, baseline   float64 // throughput, higher is better
	fRange, bRange       string  // "min–max" over the runs, for large transfers
	unit                 string
	rssIncrease, rssBase int64 // bytes, for large transfers
	// cpu is the processor time of the server processes per GiB moved,
	// during Fluxbase's transfer and during the baseline's, for large
	// transfers: a figure that the machine's other load disturbs far less
	// than throughput.
	cpu string
	// subject names what the row measures instead of Fluxbase (a bound:
	// what a bare server reaches against the same baseline), or is "".
	subject string
}

// procCPU tracks the processor time of named processes.
type procCPU struct {
	names []string
	pids  []int
}

// seconds returns the user and system time of each process so far.
func (p procCPU) seconds() []float64 {
	out := make([]float64, len(p.pids))
	for i, pid := range p.pids {
		out[i] = benchproc.CPUTime(pid).Seconds()
	}
	return out
}

// cpuMeter sums the processor time of procs during timed steps.
type cpuMeter struct {
	procs procCPU
	sum   []float64
}

func newCPUMeter(p procCPU) *cpuMeter { return &cpuMeter{procs: p, sum: make([]float64, len(p.pids))} }

func (m *cpuMeter) measure(fn func() (int64, error)) (int64, error) {
	before := m.procs.seconds()
	n, err := fn()
	for i, v := range m.procs.seconds() {
		m.sum[i] += v - before[i]
	}
	return n, err
}

// describe formats the time per GiB during Fluxbase's transfers (f) and
// the baseline's (b), moving gib GiB each.
func describeCPU(p procCPU, f, b *cpuMeter, gib float64) string {
	var parts []string
	for i, name := range p.names {
		parts = append(parts, fmt.Sprintf("%s %.2f / %.2f", name, f.sum[i]/gib, b.sum[i]/gib))
	}
	return strings.Join(parts, ", ")
}

func run(o options) error {
	for _, p := range []*string{&o.binary, &o.versitygw} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if _, err := os.Stat(o.binary); err != nil {
		return fmt.Errorf("fluxbase binary: %w (run make build)", err)
	}
	root, err := os.MkdirTemp("", "fluxbase-bench-storage-")
	if err != nil {
		return err
	}
	// PostgreSQL runs as an unprivileged user when we are root: it must be
	// able to reach the data directory.
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(root)
	}
	ctx := context.Background()

	src := filepath.Join(root, "source.bin")
	fmt.Fprintf(os.Stderr, "writing a %s test file\n", human(o.size))
	if err := writeRandomFile(src, o.size); err != nil {
		return err
	}

	var results []result
	for _, backend := range o.backends {
		var rs []result
		var err error
		switch backend {
		case "local":
			rs, err = benchLocal(ctx, o, root, src)
		case "s3":
			rs, err = benchS3(ctx, o, root, src)
		default:
			err = fmt.Errorf("unknown backend %q (local or s3)", backend)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", backend, err)
		}
		results = append(results, rs...)
	}
	printResults(o, results)
	return nil
}

func benchLocal(ctx context.Context, o options, root, src string) ([]result, error) {
	dir := filepath.Join(root, "local")
	store := filepath.Join(dir, "objects")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return nil, err
	}
	fb, err := startFluxbase(ctx, o.binary, filepath.Join(root, "data"), []string{
		"FLUXBASE_STORAGE_BACKEND=local",
		"FLUXBASE_STORAGE_LOCAL_ROOT=" + store,
	})
	if err != nil {
		return nil, err
	}
	defer fb.Stop()
	if err := fb.createBucket("bench-local"); err != nil {
		return nil, err
	}

	copyOf := func(i int) string { return filepath.Join(dir, fmt.Sprintf("copy-%d.bin", i)) }
	// A download saves the file, so the download's counterpart is cp of
	// the stored file to another file of the same file system: no fsync on
	// either side (a downloading client does not fsync either), the
	// source in the page cache for both (each was just written), and each
	// destination removed as soon as it has been measured. cp to /dev/null,
	// which writes nothing, is kept for comparison with earlier figures.
	received := filepath.Join(dir, "received.bin")
	cpDownload := func(dst string) func(i int) (int64, error) {
		return func(i int) (int64, error) {
			if out, err := exec.Command("cp", copyOf(i), dst).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("cp: %v: %s", err, out)
			}
			return o.size, nil
		}
	}
	base := transfer{
		upload: func(i int) (int64, error) {
			if out, err := exec.Command("cp", src, copyOf(i)).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("cp: %v: %s", err, out)
			}
			return o.size, fsyncFile(copyOf(i))
		},
		downloads: []download{
			{
				what:     " to a file vs cp to a file",
				fluxbase: func(_ int, name string) (int64, error) { return fb.downloadFile(name, received) },
				baseline: cpDownload(received),
			},
			{
				what:     " (discarded) vs cp to /dev/null",
				fluxbase: func(_ int, name string) (int64, error) { return fb.download(name, io.Discard) },
				baseline: cpDownload("/dev/null"),
			},
		},
		remove: func(i int) error { return os.Remove(copyOf(i)) },
	}
	procs := procCPU{names: []string{"fluxbase"}, pids: []int{fb.Cmd.Process.Pid}}
	rs, err := measureLarge(o, "local", "cp", fb, src, base, procs, func() error { return removeIfExists(received) })
	if err != nil {
		return nil, err
	}
	// cp never crosses a socket. A bare HTTP server moving the same bytes
	// over loopback (streaming PUT with fsync and rename; ServeFile) shows
	// what HTTP itself costs, and so what Fluxbase adds to it.
	httpDir := filepath.Join(dir, "http")
	if err := os.MkdirAll(httpDir, 0o755); err != nil {
		return nil, err
	}
	plainLarge, err := startPlainServer(httpDir)
	if err != nil {
		return nil, err
	}
	hrs, err := measurePlainLarge(o, fb.client, plainLarge, src, received, rs[0], rs[2])
	plainLarge.Close()
	if err != nil {
		return nil, err
	}
	rs = append(rs, hrs...)

	// The small-object baseline is a bare HTTP server doing the same file
	// work (temporary file, fsync, rename; read), so that the ratio is
	// what Fluxbase adds: authentication, the metadata transactions under
	// row level security, and its own bookkeeping.
	smallDir := filepath.Join(dir, "small")
	if err := os.MkdirAll(smallDir, 0o755); err != nil {
		return nil, err
	}
	plain, err := startPlainServer(smallDir)
	if err != nil {
		return nil, err
	}
	defer plain.Close()
	smallBase := smallOps{
		put: func(i int, data []byte) error {
			return httpDo(fb.client, http.MethodPut, plain.URL+"/"+strconv.Itoa(i), data, io.Discard)
		},
		get: func(i int) (int, error) {
			var b bytes.Buffer
			err := httpDo(fb.client, http.MethodGet, plain.URL+"/"+strconv.Itoa(i), nil, &b)
			return b.Len(), err
		},
	}
	srs, err := measureSmall(o, "local", "net/http + files", fb, smallBase)
	if err != nil {
		return nil, err
	}
	return append(rs, srs...), nil
}

func benchS3(ctx context.Context, o options, root, src string) ([]result, error) {
	gw, err := startVersity(ctx, o.versitygw, filepath.Join(root, "s3"))
	if err != nil {
		return nil, err
	}
	defer gw.stop()
	client, err := minio.New(gw.addr, &minio.Options{Creds: credentials.NewStaticV4(gw.access, gw.secret, ""), Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, err
	}
	for _, b := range []string{"fluxbase", "baseline"} {
		if err := client.MakeBucket(ctx, b, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	fb, err := startFluxbase(ctx, o.binary, filepath.Join(root, "data"), []string{
		"FLUXBASE_STORAGE_BACKEND=s3",
		"FLUXBASE_STORAGE_S3_ENDPOINT=http://" + gw.addr,
		"FLUXBASE_STORAGE_S3_BUCKET=fluxbase",
		"FLUXBASE_STORAGE_S3_REGION=us-east-1",
		"FLUXBASE_STORAGE_S3_ACCESS_KEY=" + gw.access,
		"FLUXBASE_STORAGE_S3_SECRET_KEY=" + gw.secret,
		"FLUXBASE_STORAGE_S3_PATH_STYLE=true",
	})
	if err != nil {
		return nil, err
	}
	defer fb.Stop()
	if err := fb.createBucket("bench-s3"); err != nil {
		return nil, err
	}

	relay, err := startS3Relay(client, "http://"+gw.addr, "baseline")
	if err != nil {
		return nil, err
	}
	defer relay.Close()

	// The baseline uploads in 16 MiB parts; from a file, minio-go sends
	// four of them at a time.
	const partSize = 16 << 20
	big := func(i int) string { return fmt.Sprintf("big-%d.bin", i) }
	base := transfer{
		upload: func(i int) (int64, error) {
			f, err := os.Open(src)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			info, err := client.PutObject(ctx, "baseline", big(i), f, o.size, minio.PutObjectOptions{PartSize: partSize, ContentType: "application/octet-stream"})
			return info.Size, err
		},
		downloads: []download{{
			fluxbase: func(_ int, name string) (int64, error) { return fb.download(name, io.Discard) },
			baseline: func(i int) (int64, error) {
				obj, err := client.GetObject(ctx, "baseline", big(i), minio.GetObjectOptions{})
				if err != nil {
					return 0, err
				}
				defer obj.Close()
				return drain(obj)
			},
		}, {
			// A reference, not the baseline: what any server that
			// relays S3's bytes over one more loopback hop can reach here.
			what:     " vs a bare net/http relay of S3 (splice), for reference",
			fluxbase: func(_ int, name string) (int64, error) { return fb.download(name, io.Discard) },
			baseline: func(i int) (int64, error) { return relay.get(big(i)) },
		}},
		remove: func(i int) error { return client.RemoveObject(ctx, "baseline", big(i), minio.RemoveObjectOptions{}) },
	}
	procs := procCPU{names: []string{"fluxbase", "versitygw"}, pids: []int{fb.Cmd.Process.Pid, gw.cmd.Process.Pid}}
	rs, err := measureLarge(o, "s3", "minio-go put/get", fb, src, base, procs, func() error { return nil })
	if err != nil {
		return nil, err
	}
	smallBase := smallOps{
		put: func(i int, data []byte) error {
			_, err := client.PutObject(ctx, "baseline", "small/"+strconv.Itoa(i), bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ContentType: "application/octet-stream"})
			return err
		},
		get: func(i int) (int, error) {
			obj, err := client.GetObject(ctx, "baseline", "small/"+strconv.Itoa(i), minio.GetObjectOptions{})
			if err != nil {
				return 0, err
			}
			defer obj.Close()
			n, err := io.Copy(io.Discard, obj)
			return int(n), err
		},
	}
	srs, err := measureSmall(o, "s3", "minio-go put/get", fb, smallBase)
	if err != nil {
		return nil, err
	}
	return append(rs, srs...), nil
}

// s3Relay is the least a server can do to pass S3 objects on: GET /{key}
// sends a presigned GET to S3 on a connection of its own and hands that
// connection to net/http, which splices the body to the client. No
// metadata, no checks: it shows what the extra hop alone costs.
type s3Relay struct {
	URL    string
	srv    *http.Server
	client *http.Client
}

func startS3Relay(s3 *minio.Client, endpoint, bucket string) (*s3Relay, error) {
	ep, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &s3Relay{URL: "http://" + ln.Addr().String(), client: &http.Client{Transport: &http.Transport{
		DisableCompression: true, ReadBufferSize: 256 << 10,
	}}}
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, err := s3.Presign(req.Context(), http.MethodGet, bucket, strings.TrimPrefix(req.URL.Path, "/"), time.Minute, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		c, err := net.Dial("tcp", ep.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer c.Close()
		out, err := http.NewRequest(http.MethodGet, u.String(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Close = true
		br := bufio.NewReader(c)
		if err := out.Write(c); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		res, err := http.ReadResponse(br, out)
		if err != nil || res.StatusCode != http.StatusOK || res.ContentLength < 0 {
			http.Error(w, fmt.Sprintf("S3: %v %v", res, err), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Length", strconv.FormatInt(res.ContentLength, 10))
		head, _ := br.Peek(min(br.Buffered(), int(res.ContentLength)))
		if _, err := w.Write(head); err != nil {
			return
		}
		_, _ = io.Copy(w, &io.LimitedReader{R: c.(*net.TCPConn), N: res.ContentLength - int64(len(head))})
	})}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

func (r *s3Relay) get(key string) (int64, error) {
	res, err := r.client.Get(r.URL + "/" + key)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("relay: %s", res.Status)
	}
	return drain(res.Body)
}

func (r *s3Relay) Close() {
	_ = r.srv.Close()
	r.client.CloseIdleConnections()
}

// plainServer serves PUT and GET of numbered files in dir over HTTP, with
// the durability of Fluxbase's local backend and nothing else.
type plainServer struct {
	URL string
	dir string
	srv *http.Server
}

func startPlainServer(dir string) (*plainServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		if _, err := strconv.Atoi(name); err != nil {
			http.Error(w, "bad name", http.StatusBadRequest)
			return
		}
		p := filepath.Join(dir, name)
		switch r.Method {
		case http.MethodPut:
			if err := writeStreamSynced(p, r.Body); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			http.ServeFile(w, r, p)
		default:
			http.Error(w, "method", http.StatusMethodNotAllowed)
		}
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &plainServer{URL: "http://" + ln.Addr().String(), dir: dir, srv: srv}, nil
}

func (p *plainServer) Close() { _ = p.srv.Close() }

func httpDo(client *http.Client, method, url string, body []byte, out io.Writer) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, url, res.Status)
	}
	_, err = io.Copy(out, res.Body)
	return err
}

// transfer is a baseline for the large transfer. Run i writes and reads
// its own copy, and removes it only after the run, so that no timed step
// pays for deleting the previous one.
type transfer struct {
	upload    func(i int) (int64, error)
	downloads []download
	remove    func(i int) error
}

// download is one way of measuring the large download: what the client
// does with the bytes (fluxbase downloads object name in run i) and the
// baseline it is compared with.
type download struct {
	what     string // "download" followed by this, e.g. " to a file vs cp to a file"
	fluxbase func(i int, name string) (int64, error)
	baseline func(i int) (int64, error)
}

// measureLarge uploads and downloads src through Fluxbase and through the
// baseline, alternating them, runs times, and reports median throughputs
// and the largest memory increase of the Fluxbase process: one row for
// the upload, then one for each way of downloading. cleanup runs after
// each timed download (untimed), to remove what it saved.
func measureLarge(o options, backend, baseName string, fb *fluxbase, src string, base transfer, procs procCPU, cleanup func() error) ([]result, error) {
	var upF, upB []float64
	cpuUpF, cpuUpB := newCPUMeter(procs), newCPUMeter(procs)
	cpuDownF := make([]*cpuMeter, len(base.downloads))
	cpuDownB := make([]*cpuMeter, len(base.downloads))
	for k := range base.downloads {
		cpuDownF[k], cpuDownB[k] = newCPUMeter(procs), newCPUMeter(procs)
	}
	downF := make([][]float64, len(base.downloads))
	downB := make([][]float64, len(base.downloads))
	rssDown := make([]int64, len(base.downloads))
	var rssUp, rssBase int64
	for i := 0; i < o.runs; i++ {
		fmt.Fprintf(os.Stderr, "%s: large transfer, run %d of %d\n", backend, i+1, o.runs)
		// The baseline goes first in even runs and last in odd ones, so
		// that neither always finds the caches in the other's wake.
		baseUp := func() error {
			d, _, err := timed(func() (int64, error) { return cpuUpB.measure(func() (int64, error) { return base.upload(i) }) })
			if err != nil {
				return fmt.Errorf("baseline upload: %w", err)
			}
			upB = append(upB, mbps(o.size, d))
			return nil
		}
		if i%2 == 0 {
			if err := baseUp(); err != nil {
				return nil, err
			}
		}

		before, err := fb.resetPeak()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("big-%d.bin", i)
		d, n, err := timed(func() (int64, error) {
			return cpuUpF.measure(func() (int64, error) { return fb.upload(name, src, o.size) })
		})
		if err != nil {
			return nil, fmt.Errorf("fluxbase upload: %w", err)
		}
		if n != o.size {
			return nil, fmt.Errorf("fluxbase upload stored %d bytes, want %d", n, o.size)
		}
		upF = append(upF, mbps(o.size, d))
		peak, err := fb.peak()
		if err != nil {
			return nil, err
		}
		rssUp = max(rssUp, peak-before)
		rssBase = max(rssBase, before)
		if i%2 == 1 {
			if err := baseUp(); err != nil {
				return nil, err
			}
		}

		for k, dl := range base.downloads {
			baseDown := func() error {
				d, _, err := timed(func() (int64, error) { return cpuDownB[k].measure(func() (int64, error) { return dl.baseline(i) }) })
				if err != nil {
					return fmt.Errorf("baseline download: %w", err)
				}
				downB[k] = append(downB[k], mbps(o.size, d))
				return cleanup()
			}
			if i%2 == 0 {
				if err := baseDown(); err != nil {
					return nil, err
				}
			}
			before, err = fb.resetPeak()
			if err != nil {
				return nil, err
			}
			d, n, err = timed(func() (int64, error) {
				return cpuDownF[k].measure(func() (int64, error) { return dl.fluxbase(i, name) })
			})
			if err != nil {
				return nil, fmt.Errorf("fluxbase download: %w", err)
			}
			if n != o.size {
				return nil, fmt.Errorf("fluxbase download returned %d bytes, want %d", n, o.size)
			}
			downF[k] = append(downF[k], mbps(o.size, d))
			peak, err = fb.peak()
			if err != nil {
				return nil, err
			}
			rssDown[k] = max(rssDown[k], peak-before)
			if err := cleanup(); err != nil {
				return nil, err
			}
			if i%2 == 1 {
				if err := baseDown(); err != nil {
					return nil, err
				}
			}
		}
		if i < o.runs-1 {
			if err := base.remove(i); err != nil {
				return nil, err
			}
			if err := fb.remove(name); err != nil {
				return nil, err
			}
		}
	}
	// The bytes must come back as they went: compared once, outside the
	// timed runs.
	last := fmt.Sprintf("big-%d.bin", o.runs-1)
	if err := fb.verify(last, src); err != nil {
		return nil, err
	}
	if err := base.remove(o.runs - 1); err != nil {
		return nil, err
	}
	what := human(o.size)
	gib := float64(o.runs) * float64(o.size) / (1 << 30)
	rs := []result{
		{backend: backend, what: what + " upload vs " + baseName, fluxbase: median(upF), baseline: median(upB), fRange: spread(upF), bRange: spread(upB), unit: "MB/s", rssIncrease: rssUp, rssBase: rssBase,
			cpu: describeCPU(procs, cpuUpF, cpuUpB, gib)},
	}
	for k, dl := range base.downloads {
		w := dl.what
		if w == "" {
			w = " vs " + baseName
		}
		rs = append(rs, result{backend: backend, what: what + " download" + w, fluxbase: median(downF[k]), baseline: median(downB[k]), fRange: spread(downF[k]), bRange: spread(downB[k]), unit: "MB/s", rssIncrease: rssDown[k], rssBase: rssBase,
			cpu: describeCPU(procs, cpuDownF[k], cpuDownB[k], gib)})
	}
	return rs, nil
}

// measurePlainLarge uploads and downloads src through a bare HTTP server
// o.runs times and compares the medians with Fluxbase's (up and down, the
// latter discarding the bytes as this client does, measured by
// measureLarge). It also bounds the download saved to a file: the bare
// server's download, saved into received by the same client code as
// Fluxbase's, against cp of the same stored file to received, alternating
// as measureLarge does.
func measurePlainLarge(o options, client *http.Client, plain *plainServer, src, received string, up, down result) ([]result, error) {
	var upP, downP, saveP, cpP []float64
	for i := 0; i < o.runs; i++ {
		fmt.Fprintf(os.Stderr, "local: large transfer through net/http, run %d of %d\n", i+1, o.runs)
		target := plain.URL + "/" + strconv.Itoa(i)
		d, _, err := timed(func() (int64, error) {
			f, err := os.Open(src)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			req, err := http.NewRequest(http.MethodPut, target, f)
			if err != nil {
				return 0, err
			}
			req.ContentLength = o.size
			res, err := client.Do(req)
			if err != nil {
				return 0, err
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("PUT %s: %s", target, res.Status)
			}
			return o.size, nil
		})
		if err != nil {
			return nil, err
		}
		upP = append(upP, mbps(o.size, d))
		var n int64
		d, _, err = timed(func() (int64, error) {
			res, err := client.Get(target)
			if err != nil {
				return 0, err
			}
			defer res.Body.Close()
			n, err = drain(res.Body)
			return n, err
		})
		if err != nil {
			return nil, err
		}
		if n != o.size {
			return nil, fmt.Errorf("GET %s: %d bytes, want %d", target, n, o.size)
		}
		downP = append(downP, mbps(o.size, d))

		stored := filepath.Join(plain.dir, strconv.Itoa(i))
		save := func() error {
			d, n, err := timed(func() (int64, error) {
				return saveToFile(received, func(w io.Writer) (int64, error) { return httpGet(client, target, w) })
			})
			if err != nil {
				return err
			}
			if n != o.size {
				return fmt.Errorf("GET %s: %d bytes, want %d", target, n, o.size)
			}
			saveP = append(saveP, mbps(o.size, d))
			return removeIfExists(received)
		}
		cp := func() error {
			d, _, err := timed(func() (int64, error) {
				if out, err := exec.Command("cp", stored, received).CombinedOutput(); err != nil {
					return 0, fmt.Errorf("cp: %v: %s", err, out)
				}
				return o.size, nil
			})
			if err != nil {
				return err
			}
			cpP = append(cpP, mbps(o.size, d))
			return removeIfExists(received)
		}
		steps := []func() error{cp, save}
		if i%2 == 1 {
			steps = []func() error{save, cp}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return nil, err
			}
		}

		if err := os.Remove(stored); err != nil {
			return nil, err
		}
	}
	what := human(o.size)
	return []result{
		{backend: "local", what: what + " upload vs net/http PUT (fsync, rename)", fluxbase: up.fluxbase, baseline: median(upP), fRange: up.fRange, bRange: spread(upP), unit: "MB/s", rssIncrease: up.rssIncrease, rssBase: up.rssBase},
		{backend: "local", what: what + " download (discarded) vs net/http ServeFile", fluxbase: down.fluxbase, baseline: median(downP), fRange: down.fRange, bRange: spread(downP), unit: "MB/s", rssIncrease: down.rssIncrease, rssBase: down.rssBase},
		{backend: "local", what: what + " download to a file, bound: bare net/http ServeFile (not Fluxbase) vs cp to a file", subject: "net/http", fluxbase: median(saveP), baseline: median(cpP), fRange: spread(saveP), bRange: spread(cpP), unit: "MB/s"},
	}, nil
}

type smallOps struct {
	put func(i int, data []byte) error
	get func(i int) (int, error)
}

// measureSmall uploads then downloads o.small objects of 4 KiB with
// o.clients concurrent clients, through Fluxbase and the baseline.
func measureSmall(o options, backend, baseName string, fb *fluxbase, base smallOps) ([]result, error) {
	fmt.Fprintf(os.Stderr, "%s: %d objects of 4 KiB, %d clients\n", backend, o.small, o.clients)
	data := make([]byte, 4096)
	_, _ = rand.Read(data)
	var upB, upF, downB, downF float64
	var err error
	if upB, err = parallel(o, func(i int) error { return base.put(i, data) }); err != nil {
		return nil, fmt.Errorf("baseline small upload: %w", err)
	}
	if upF, err = parallel(o, func(i int) error { return fb.uploadBytes("small/"+strconv.Itoa(i), data) }); err != nil {
		return nil, fmt.Errorf("fluxbase small upload: %w", err)
	}
	check := func(n int, err error) error {
		if err == nil && n != len(data) {
			return fmt.Errorf("read %d bytes, want %d", n, len(data))
		}
		return err
	}
	if downB, err = parallel(o, func(i int) error { return check(base.get(i)) }); err != nil {
		return nil, fmt.Errorf("baseline small download: %w", err)
	}
	if downF, err = parallel(o, func(i int) error {
		n, err := fb.download("small/"+strconv.Itoa(i), io.Discard)
		return check(int(n), err)
	}); err != nil {
		return nil, fmt.Errorf("fluxbase small download: %w", err)
	}
	return []result{
		{backend: backend, what: fmt.Sprintf("4 KiB uploads, %d clients, vs %s", o.clients, baseName), fluxbase: upF, baseline: upB, unit: "objects/s"},
		{backend: backend, what: fmt.Sprintf("4 KiB downloads, %d clients, vs %s", o.clients, baseName), fluxbase: downF, baseline: downB, unit: "objects/s"},
	}, nil
}

// parallel runs fn for 0..o.small-1 on o.clients goroutines and returns
// the operations per second.
func parallel(o options, fn func(i int) error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	begin := time.Now()
	for range o.clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.small {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(o.small) / time.Since(begin).Seconds(), first
}

func timed(fn func() (int64, error)) (time.Duration, int64, error) {
	begin := time.Now()
	n, err := fn()
	return time.Since(begin), n, err
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is the range of v, as "min–max".
func spread(v []float64) string {
	return fmt.Sprintf("%.0f–%.0f", slices.Min(v), slices.Max(v))
}

func printResults(o options, rs []result) {
	fmt.Printf("Storage benchmark: %d run(s) of each large transfer (median, range in brackets), %d small objects; GOMAXPROCS=%d, %d CPUs\n\n",
		o.runs, o.small, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Println("| backend | measurement | Fluxbase | baseline | ratio | peak RSS increase | server CPU s/GiB (Fluxbase's run / baseline's) |")
	fmt.Println("|---|---|---:|---:|---:|---:|---|")
	for _, r := range rs {
		rss := ""
		if r.unit == "MB/s" && r.subject == "" {
			rss = fmt.Sprintf("%.1f MB (from %.1f MB)", float64(r.rssIncrease)/1e6, float64(r.rssBase)/1e6)
		}
		f, b := fmt.Sprintf("%.1f %s", r.fluxbase, r.unit), fmt.Sprintf("%.1f %s", r.baseline, r.unit)
		if r.fRange != "" {
			f += " (" + r.fRange + ")"
			b += " (" + r.bRange + ")"
		}
		if r.subject != "" {
			f = r.subject + ": " + f
		}
		fmt.Printf("| %s | %s | %s | %s | %.2f× | %s | %s |\n", r.backend, r.what, f, b, r.fluxbase/r.baseline, rss, r.cpu)
	}
}

// fluxbase is a running `fluxbase serve`.
type fluxbase struct {
	*benchproc.Fluxbase
	client *http.Client
	// bucket receives the uploads.
	bucket string
}

// startFluxbase starts the binary on dataDir and waits until it is ready.
func startFluxbase(ctx context.Context, binary, dataDir string, env []string) (*fluxbase, error) {
	p, err := benchproc.Start(ctx, binary, dataDir, env)
	if err != nil {
		return nil, err
	}
	return &fluxbase{Fluxbase: p, client: &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 256, DisableCompression: true,
		WriteBufferSize: 256 << 10, ReadBufferSize: 256 << 10,
	}}}, nil
}

func (fb *fluxbase) do(method, path string, body io.Reader, size int64, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequest(method, fb.URL+path, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	req.Header.Set("Authorization", "Bearer "+fb.ServiceRoleKey)
	req.Header.Set("apikey", fb.ServiceRoleKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := fb.client.Do(req)
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 300 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		if res.StatusCode >= 500 {
			return nil, fmt.Errorf("%s %s: %s: %s\nserver log (end):\n%s", method, path, res.Status, b, fb.LogTail(4096))
		}
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, res.Status, b)
	}
	return res, nil
}

func (fb *fluxbase) createBucket(name string) error {
	fb.bucket = name
	res, err := fb.do(http.MethodPost, "/storage/v1/bucket", strings.NewReader(`{"name":"`+name+`"}`), -1,
		map[string]string{"Content-Type": "application/json"})
	if err != nil {
		return err
	}
	res.Body.Close()
	return nil
}

func (fb *fluxbase) upload(name, path string, size int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	res, err := fb.do(http.MethodPost, "/storage/v1/object/"+fb.bucket+"/"+name, f, size,
		map[string]string{"Content-Type": "application/octet-stream", "x-upsert": "true"})
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	head, err := fb.do(http.MethodHead, "/storage/v1/object/"+fb.bucket+"/"+name, nil, 0, nil)
	if err != nil {
		return 0, err
	}
	head.Body.Close()
	return head.ContentLength, nil
}

func (fb *fluxbase) remove(name string) error {
	res, err := fb.do(http.MethodDelete, "/storage/v1/object/"+fb.bucket+"/"+name, nil, 0, nil)
	if err != nil {
		return err
	}
	return res.Body.Close()
}

func (fb *fluxbase) uploadBytes(name string, data []byte) error {
	res, err := fb.do(http.MethodPost, "/storage/v1/object/"+fb.bucket+"/"+name, bytes.NewReader(data), int64(len(data)),
		map[string]string{"Content-Type": "application/octet-stream", "x-upsert": "true"})
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res.Body.Close()
}

func (fb *fluxbase) download(name string, w io.Writer) (int64, error) {
	res, err := fb.do(http.MethodGet, "/storage/v1/object/"+fb.bucket+"/"+name, nil, 0, nil)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if w == io.Discard {
		return drain(res.Body)
	}
	buf := drainBuffers.Get().(*[]byte)
	defer drainBuffers.Put(buf)
	return io.CopyBuffer(w, res.Body, *buf)
}

// downloadFile saves object name in the file path, as a downloading
// client does (in 1 MiB blocks, as curl writes; not fsynced, as no
// download client does).
func (fb *fluxbase) downloadFile(name, path string) (int64, error) {
	return saveToFile(path, func(w io.Writer) (int64, error) { return fb.download(name, w) })
}

// saveToFile creates path and has download write into it, as a
// downloading client saves a file: through download's 1 MiB buffer (the
// file's ReadFrom is hidden), not fsynced.
func saveToFile(path string, download func(w io.Writer) (int64, error)) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	n, err := download(writeOnly{f})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// httpGet copies the body of a GET of url into w in 1 MiB blocks, as
// fluxbase.download does.
func httpGet(client *http.Client, url string, w io.Writer) (int64, error) {
	res, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	buf := drainBuffers.Get().(*[]byte)
	defer drainBuffers.Put(buf)
	return io.CopyBuffer(w, res.Body, *buf)
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// drain reads r to its end the way a download client does (curl reads in
// large blocks), so that the client's reads are not what is measured:
// io.Discard alone would read 8 KiB at a time.
func drain(r io.Reader) (int64, error) {
	buf := drainBuffers.Get().(*[]byte)
	defer drainBuffers.Put(buf)
	return io.CopyBuffer(writeOnly{io.Discard}, r, *buf)
}

var drainBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }}

// writeOnly hides io.Discard's ReadFrom, which would ignore the buffer.
type writeOnly struct{ io.Writer }

// verify compares the stored object with the file, byte for byte.
func (fb *fluxbase) verify(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := fb.do(http.MethodGet, "/storage/v1/object/"+fb.bucket+"/"+name, nil, 0, nil)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	a, b := bufio.NewReaderSize(f, 1<<20), bufio.NewReaderSize(res.Body, 1<<20)
	bufA, bufB := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, errA := io.ReadFull(a, bufA)
		m, errB := io.ReadFull(b, bufB)
		if n != m || !bytes.Equal(bufA[:n], bufB[:m]) {
			return fmt.Errorf("%s differs from the uploaded file near byte %d", name, off)
		}
		off += int64(n)
		if errA != nil || errB != nil {
			if errors.Is(errA, io.ErrUnexpectedEOF) || errors.Is(errA, io.EOF) {
				if errors.Is(errB, io.ErrUnexpectedEOF) || errors.Is(errB, io.EOF) {
					return nil
				}
			}
			return fmt.Errorf("verify %s: %v / %v", name, errA, errB)
		}
	}
}

// resetPeak resets the process's peak RSS (VmHWM) to its current RSS and
// returns that RSS.
func (fb *fluxbase) resetPeak() (int64, error) {
	pid := fb.Cmd.Process.Pid
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		return 0, fmt.Errorf("reset peak RSS of pid %d: %w", pid, err)
	}
	return procStatus(pid, "VmRSS")
}

// peak returns the process's peak RSS since the last reset.
func (fb *fluxbase) peak() (int64, error) { return procStatus(fb.Cmd.Process.Pid, "VmHWM") }

// procStatus reads a /proc/PID/status field in bytes.
func procStatus(pid int, field string) (int64, error) {
	kb, err := benchproc.ProcStatusKB(pid, field)
	return kb << 10, err
}

// versity is a running versitygw with a posix backend.
type versity struct {
	cmd            *exec.Cmd
	addr           string
	access, secret string
	done           chan struct{}
	out            *bytes.Buffer
}

func startVersity(ctx context.Context, binary, dir string) (*versity, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	addr, err := benchproc.FreeAddr()
	if err != nil {
		return nil, err
	}
	v := &versity{addr: addr, access: randomToken(20), secret: randomToken(40), done: make(chan struct{}), out: &bytes.Buffer{}}
	v.cmd = exec.CommandContext(ctx, binary, "--access", v.access, "--secret", v.secret, "--port", addr, "--quiet", "posix", dir)
	v.cmd.Stdout, v.cmd.Stderr = v.out, v.out
	if err := v.cmd.Start(); err != nil {
		return nil, fmt.Errorf("versitygw: %w (run make test-deps)", err)
	}
	go func() { _ = v.cmd.Wait(); close(v.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return v, nil
		}
		select {
		case <-v.done:
			return nil, fmt.Errorf("versitygw exited:\n%s", v.out.String())
		default:
		}
		if time.Now().After(deadline) {
			v.stop()
			return nil, fmt.Errorf("versitygw not listening after 30s:\n%s", v.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (v *versity) stop() {
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.done
	}
}

func randomToken(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// writeRandomFile writes size incompressible bytes to path.
func writeRandomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var seed [32]byte
	_, _ = rand.Read(seed[:])
	gen := mrand.NewChaCha8(seed)
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, gen, size); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	// On disk before anything is timed, so that its write-back does not
	// slow the first measurement.
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fsyncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeStreamSynced stores r at path as Fluxbase's local backend does: a
// temporary file, fsync, rename.
func writeStreamSynced(path string, r io.Reader) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d B", n)
}
