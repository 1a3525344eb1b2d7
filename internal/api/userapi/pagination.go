package userapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kiln-ci/kiln/internal/store"
)

// GitLab's offset pagination.
const (
	defaultPerPage = 20
	maxPerPage     = 100
	// maxCounted is the largest total GitLab counts: beyond it X-Total,
	// X-Total-Pages and the "last" link are left out, for performance.
	maxCounted = 10_000
	// scanBatch is how many records a filtered list reads per store call.
	scanBatch = store.MaxPageLimit
)

// pagination is a request's page and per_page (GitLab: page from 1, per_page 20 by
// default and at most 100).
type pagination struct {
	page, perPage int
}

func readPagination(p params) (pagination, error) {
	page, err := p.integer("page", 1)
	if err != nil {
		return pagination{}, err
	}
	per, err := p.integer("per_page", defaultPerPage)
	if err != nil {
		return pagination{}, err
	}
	if page < 1 {
		page = 1
	}
	if per < 1 {
		per = defaultPerPage
	}
	return pagination{page: page, perPage: min(per, maxPerPage)}, nil
}

func (pg pagination) offset() int { return (pg.page - 1) * pg.perPage }

// fetchFunc reads one page of a store list.
type fetchFunc[T any] func(ctx context.Context, page store.Page) ([]T, error)

// countFunc counts the records of a store list, up to upTo (the store's Count*
// methods).
type countFunc func(ctx context.Context, upTo int) (int, error)

// countedPage reads one page of a store list that the store can count: one call for
// the page and, unless the page itself tells the total (a short page), one count,
// stopped past maxCounted (total -1 then).
func countedPage[T any](ctx context.Context, pg pagination, fetch fetchFunc[T], count countFunc) (items []T, total int, err error) {
	off := pg.offset()
	if items, err = fetch(ctx, store.Page{Offset: off, Limit: pg.perPage}); err != nil {
		return nil, 0, err
	}
	if len(items) < pg.perPage && (len(items) > 0 || off == 0) {
		return items, off + len(items), nil
	}
	if total, err = count(ctx, maxCounted+1); err != nil {
		return nil, 0, err
	}
	if total > maxCounted {
		total = -1
	}
	return items, total, nil
}

// storePage reads one page from the store, for lists the store cannot count, and
// counts the records: one call for the page (with one record more, to know whether a
// next page exists) and, only when the page does not tell the total, a few one-record
// calls that look for the end by binary search (at most ~30 for GitLab's
// 10,000-record cap). total is -1 beyond maxCounted.
func storePage[T any](ctx context.Context, pg pagination, fetch fetchFunc[T]) (items []T, total int, err error) {
	off := pg.offset()
	got, err := fetch(ctx, store.Page{Offset: off, Limit: pg.perPage + 1})
	if err != nil {
		return nil, 0, err
	}
	exists := func(i int) (bool, error) {
		one, err := fetch(ctx, store.Page{Offset: i, Limit: 1})
		return len(one) > 0, err
	}
	switch {
	case len(got) > pg.perPage:
		items = got[:pg.perPage]
		total, err = countFrom(off+len(got), exists)
	case len(got) > 0 || off == 0:
		items, total = got, off+len(got)
	default: // past the end: the total is below the offset
		items = got
		total, err = firstMissing(0, off, exists)
	}
	return items, total, err
}

// countFrom counts records knowing that the first known exist: it doubles until it
// finds an index with no record (or passes maxCounted, then -1), then searches.
func countFrom(known int, exists func(int) (bool, error)) (int, error) {
	lo, hi := known, known
	for {
		hi = min(hi*2, maxCounted)
		ok, err := exists(hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if hi >= maxCounted {
			return -1, nil
		}
		lo = hi + 1
	}
	return firstMissing(lo, hi, exists)
}

// firstMissing returns the smallest index in [lo, hi] with no record, given that
// every index below lo has one and hi has none.
func firstMissing(lo, hi int, exists func(int) (bool, error)) (int, error) {
	for lo < hi {
		mid := lo + (hi-lo)/2
		ok, err := exists(mid)
		if err != nil {
			return 0, err
		}
		if ok {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// scanAll reads every record a store list returns, in batches, keeping those keep
// accepts (lists the store cannot filter, such as the projects a user may see).
func scanAll[T any](ctx context.Context, fetch fetchFunc[T], keep func(*T) (bool, error)) ([]T, error) {
	var out []T
	for off := 0; ; off += scanBatch {
		batch, err := fetch(ctx, store.Page{Offset: off, Limit: scanBatch})
		if err != nil {
			return nil, err
		}
		for i := range batch {
			ok, err := keep(&batch[i])
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, batch[i])
			}
		}
		if len(batch) < scanBatch {
			return out, nil
		}
	}
}

// slicePage returns one page of an in-memory list and its total.
func slicePage[T any](all []T, pg pagination) ([]T, int) {
	off := pg.offset()
	if off >= len(all) {
		return []T{}, len(all)
	}
	return all[off:min(off+pg.perPage, len(all))], len(all)
}

// setPageHeaders writes GitLab's pagination headers: X-Page, X-Per-Page,
// X-Prev-Page, X-Next-Page, and, when the total is known (≥ 0), X-Total,
// X-Total-Pages and a Link header with first, prev, next and last.
func (h *Handler) setPageHeaders(w http.ResponseWriter, r *http.Request, pg pagination, shown, total int) {
	h.setPageHeadersAt(w, r, h.svc.ExternalURL(), pg, shown, total)
}

// setPageHeadersAt is setPageHeaders with links on base, the server's external URL.
func (h *Handler) setPageHeadersAt(w http.ResponseWriter, r *http.Request, base string, pg pagination, shown, total int) {
	hd := w.Header()
	hd.Set("X-Page", strconv.Itoa(pg.page))
	hd.Set("X-Per-Page", strconv.Itoa(pg.perPage))
	prev, next := "", ""
	if pg.page > 1 {
		prev = strconv.Itoa(pg.page - 1)
	}
	hasNext := shown == pg.perPage && (total < 0 || pg.offset()+shown < total)
	if hasNext {
		next = strconv.Itoa(pg.page + 1)
	}
	hd.Set("X-Prev-Page", prev)
	hd.Set("X-Next-Page", next)
	pages := 0
	if total >= 0 {
		pages = max(1, (total+pg.perPage-1)/pg.perPage)
		hd.Set("X-Total", strconv.Itoa(total))
		hd.Set("X-Total-Pages", strconv.Itoa(pages))
	}
	var links []string
	link := func(page int, rel string) {
		links = append(links, fmt.Sprintf("<%s>; rel=%q", pageURL(base, r, page, pg.perPage), rel))
	}
	if prev != "" {
		link(pg.page-1, "prev")
	}
	if next != "" {
		link(pg.page+1, "next")
	}
	link(1, "first")
	if pages > 0 {
		link(pages, "last")
	}
	hd.Set("Link", strings.Join(links, ", "))
}

// pageURL is the request's URL on base with another page. Tokens in the query
// (private_token) are left out.
func pageURL(base string, r *http.Request, page, perPage int) string {
	q := url.Values{}
	for k, vs := range r.URL.Query() {
		if k != "private_token" && k != "page" && k != "per_page" {
			q[k] = vs
		}
	}
	q.Set("page", strconv.Itoa(page))
	q.Set("per_page", strconv.Itoa(perPage))
	return base + r.URL.EscapedPath() + "?" + q.Encode()
}
