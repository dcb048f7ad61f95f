package console

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/mycelia-kernel/storage"
)

// operators are the builder's operators, in the order of its menu.
var operators = []storage.Operator{storage.OpEq, storage.OpNe, storage.OpGt, storage.OpGte,
	storage.OpLt, storage.OpLte, storage.OpContains, storage.OpStartsWith, storage.OpEndsWith,
	storage.OpIn, storage.OpNin, storage.OpExists}

// builderRows is how many rows the builder shows at least.
const builderRows = 3

// queryRow is one row of the filter builder.
type queryRow struct{ Field, Op, Value string }

// queryPage is the data of the query page.
type queryPage struct {
	NS         string
	Namespaces []string
	Filter     string // the JSON form
	Rows       []queryRow
	Operators  []storage.Operator
	Sort, Dir  string
	Limit      int
	Ran        bool
	Count      int64
	Results    []entryRow
	Next       string // the link to the next page, "" on the last
	// Cut: fewer than Limit results, more remaining, because their
	// values reached PageBytes (see readPage); Slow: because its
	// queries ran PageReadTime.
	Cut, Slow bool
}

// query runs a filter, built with the rows or typed as JSON, on one
// namespace, with a sort and a limit, and shows the matches with their
// count. It is a GET: a query changes nothing, and its address can be kept.
func (h *Handler) query(w http.ResponseWriter, r *http.Request, ss *session) {
	q := r.URL.Query()
	p := queryPage{NS: q.Get("ns"), Filter: q.Get("filter"), Operators: operators,
		Sort: strings.TrimSpace(q.Get("sort")), Dir: q.Get("dir"), Limit: pageSize(q.Get("limit"))}
	fields, ops, values := q["field"], q["op"], q["value"]
	for i := range fields {
		row := queryRow{Field: strings.TrimSpace(fields[i])}
		if i < len(ops) {
			row.Op = ops[i]
		}
		if i < len(values) {
			row.Value = values[i]
		}
		p.Rows = append(p.Rows, row)
	}
	ctx := r.Context()
	// The choices: the first NamespaceChoices names, without metadata,
	// and the namespace asked for (linked from the namespaces page).
	list, err := h.cfg.Store.ListNamespaces(ctx, storage.Limit(NamespaceChoices), storage.OmitValues())
	if err != nil {
		h.fail(w, r, ss, "Query", err)
		return
	}
	for _, n := range list {
		p.Namespaces = append(p.Namespaces, n.Name)
	}
	if p.NS != "" && !slices.Contains(p.Namespaces, p.NS) {
		p.Namespaces = append(p.Namespaces, p.NS)
	}
	v := &view{Title: "Query", Nav: "query", Data: &p}
	status := http.StatusOK
	if q.Has("run") && q.Get("addrow") == "" {
		if err := h.runQuery(r, &p, q.Get("source")); err != nil {
			status, v.Error = h.errorStatus(r, err)
		}
	}
	rows := builderRows
	if q.Get("addrow") != "" {
		rows = len(p.Rows) + 1
	}
	for len(p.Rows) < rows {
		p.Rows = append(p.Rows, queryRow{})
	}
	h.render(w, r, status, "query", ss, v)
}

// runQuery runs p's filter (from the rows when source is "rows", or when
// it is not "json" and the JSON form is empty), fills in the results, and
// writes the filter that ran into the JSON form.
func (h *Handler) runQuery(r *http.Request, p *queryPage, source string) error {
	var raw []byte
	var err error
	if source == "rows" || (source != "json" && strings.TrimSpace(p.Filter) == "") {
		if raw, err = rowsFilter(p.Rows); err != nil {
			return err
		}
	} else {
		raw = []byte(p.Filter)
	}
	f := storage.All()
	if len(strings.TrimSpace(string(raw))) > 0 {
		if f, err = storage.ParseFilter(raw); err != nil {
			return err
		}
	}
	if !f.IsZero() {
		if b, err := json.MarshalIndent(f, "", "  "); err == nil {
			p.Filter = string(b)
		}
	} else {
		p.Filter = ""
	}
	in := storage.InNamespace(p.NS)
	opts := []storage.Option{in}
	if p.Sort != "" {
		sf := storage.Asc(p.Sort)
		if p.Dir == "desc" {
			sf = storage.Desc(p.Sort)
		}
		opts = append(opts, storage.SortBy(sf))
	}
	q := r.URL.Query()
	ctx := r.Context()
	rows, next, cut, err := h.readPage(ctx, f, p.Limit, q.Get("after"), opts)
	if err != nil {
		return err
	}
	if p.Count, err = h.cfg.Store.Count(ctx, in, storage.Where(f)); err != nil {
		return err
	}
	p.Ran, p.Results, p.Cut, p.Slow = true, rows, cut == cutBytes, cut == cutTime
	if next != "" {
		q.Set("after", next)
		p.Next = Prefix + "query?" + q.Encode()
	}
	return nil
}

// rowsFilter turns the builder's rows into the JSON form: one leaf, or an
// "and" of several; nothing for no rows. A value that is JSON (a number,
// true, "quoted", [1,2]) is taken as such, anything else as a string;
// exists takes true unless the value is false.
func rowsFilter(rows []queryRow) ([]byte, error) {
	type leaf struct {
		Field    string          `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	}
	var leaves []leaf
	for _, row := range rows {
		if row.Field == "" {
			continue
		}
		op := row.Op
		if op == "" {
			op = string(storage.OpEq)
		}
		val := strings.TrimSpace(row.Value)
		var v json.RawMessage
		switch {
		case op == string(storage.OpExists):
			v = json.RawMessage("true")
			if val == "false" {
				v = json.RawMessage("false")
			}
		case val != "" && json.Valid([]byte(val)):
			v = json.RawMessage(val)
		default:
			b, err := json.Marshal(row.Value)
			if err != nil {
				return nil, err
			}
			v = b
		}
		leaves = append(leaves, leaf{Field: row.Field, Operator: op, Value: v})
	}
	switch len(leaves) {
	case 0:
		return nil, nil
	case 1:
		return json.Marshal(leaves[0])
	}
	return json.Marshal(map[string]any{"and": leaves})
}
