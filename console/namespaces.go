package console

import (
	"context"
	"net/http"
	"strings"

	"github.com/mycelia-kernel/storage"
)

// nsRow is one namespace of the namespaces page.
type nsRow struct {
	storage.Namespace
	Entries  int64
	CountErr string
}

// notices are the messages a redirect after a successful form names with
// ?msg=; only these fixed texts are ever shown.
var notices = map[string]string{
	"created":   "Namespace created.",
	"indexed":   "Index created.",
	"unindexed": "Index dropped.",
	"nsdeleted": "Namespace deleted, with every entry it held.",
	"saved":     "Entry saved.",
	"deleted":   "Entry deleted.",
}

func notice(r *http.Request) string { return notices[r.URL.Query().Get("msg")] }

// namespaces lists the namespaces the principal may read, with their entry
// counts and declared indexes, and the form to create one.
func (h *Handler) namespaces(w http.ResponseWriter, r *http.Request, ss *session) {
	h.renderNamespaces(w, r, ss, http.StatusOK, &view{Notice: notice(r)})
}

// NamespacesPage is how many namespaces the namespaces page shows at a
// time (each costs a Count), and NamespaceChoices how many the query
// page offers to choose from: the console reads a page of the store's
// namespaces, never all of them, and without their metadata, which
// neither page shows.
const (
	NamespacesPage   = 100
	NamespaceChoices = 1000
)

func (h *Handler) renderNamespaces(w http.ResponseWriter, r *http.Request, ss *session, status int, v *view) {
	ctx := r.Context()
	after := r.URL.Query().Get("after")
	opts := []storage.Option{storage.Limit(NamespacesPage + 1), storage.OmitValues()}
	if after != "" {
		opts = append(opts, storage.After(after))
	}
	list, err := h.cfg.Store.ListNamespaces(ctx, opts...)
	if err != nil {
		h.fail(w, r, ss, "Namespaces", err)
		return
	}
	next := ""
	if len(list) > NamespacesPage {
		list = list[:NamespacesPage]
		next = list[NamespacesPage-1].Name
	}
	rows := make([]nsRow, len(list))
	for i, n := range list {
		rows[i].Namespace = n
		if rows[i].Entries, err = h.cfg.Store.Count(ctx, storage.InNamespace(n.Name)); err != nil {
			_, rows[i].CountErr = h.errorStatus(r, err)
		}
	}
	_, canIndex := h.cfg.Store.(storage.Indexer)
	v.Title, v.Nav = "Namespaces", "namespaces"
	v.Data = struct {
		Rows        []nsRow
		CanIndex    bool
		After, Next string
	}{rows, canIndex, after, next}
	h.render(w, r, status, "namespaces", ss, v)
}

// createNamespace creates a namespace with the declared indexes typed in
// (comma-separated).
func (h *Handler) createNamespace(w http.ResponseWriter, r *http.Request, ss *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	var opts []storage.NamespaceOption
	if idx := splitList(r.PostFormValue("indexes")); len(idx) > 0 {
		opts = append(opts, storage.WithIndexes(idx...))
	}
	if err := h.cfg.Store.CreateNamespace(r.Context(), name, opts...); err != nil {
		status, msg := h.errorStatus(r, err)
		h.renderNamespaces(w, r, ss, status, &view{Error: "Creating the namespace failed: " + msg})
		return
	}
	http.Redirect(w, r, link("namespaces", "msg", "created"), http.StatusSeeOther)
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// nsDelete is the confirmation page of a namespace's deletion.
type nsDelete struct {
	Name    string
	Entries int64
	Sample  []string // the first keys
	More    bool
}

const deleteSample = 10

// deleteNamespacePage names what a recursive delete would remove: the
// namespace, its entry count and its first keys. The principal must type
// the name to confirm.
func (h *Handler) deleteNamespacePage(w http.ResponseWriter, r *http.Request, ss *session) {
	h.renderDeleteNamespace(w, r, ss, http.StatusOK, r.URL.Query().Get("ns"), "")
}

func (h *Handler) renderDeleteNamespace(w http.ResponseWriter, r *http.Request, ss *session, status int, ns, errMsg string) {
	ctx := r.Context()
	in := storage.InNamespace(ns)
	n, err := h.cfg.Store.Count(ctx, in)
	if err != nil {
		h.fail(w, r, ss, "Delete namespace", err)
		return
	}
	page, err := h.cfg.Store.List(ctx, in, storage.Limit(deleteSample))
	if err != nil {
		h.fail(w, r, ss, "Delete namespace", err)
		return
	}
	h.render(w, r, status, "nsdelete", ss, &view{Title: "Delete namespace " + ns, Nav: "namespaces", Error: errMsg,
		Data: nsDelete{Name: ns, Entries: n, Sample: page.Keys, More: page.Cursor != ""}})
}

// deleteNamespace deletes a namespace and everything in it, once its name
// was typed to confirm.
func (h *Handler) deleteNamespace(w http.ResponseWriter, r *http.Request, ss *session) {
	ns := r.PostFormValue("ns")
	if r.PostFormValue("confirm") != ns {
		h.renderDeleteNamespace(w, r, ss, http.StatusBadRequest, ns,
			"Type the namespace's name exactly to confirm; nothing was deleted.")
		return
	}
	if err := h.cfg.Store.DeleteNamespace(r.Context(), ns, storage.Recursive()); err != nil {
		status, msg := h.errorStatus(r, err)
		h.renderDeleteNamespace(w, r, ss, status, ns, "Deleting failed: "+msg)
		return
	}
	http.Redirect(w, r, link("namespaces", "msg", "nsdeleted"), http.StatusSeeOther)
}

// createIndex declares an index on an existing namespace
// (storage.Indexer); the security layer requires write on it.
func (h *Handler) createIndex(w http.ResponseWriter, r *http.Request, ss *session) {
	h.indexOp(w, r, ss, "indexed", "Creating the index failed: ", storage.Indexer.CreateIndex)
}

// dropIndex drops a declared index. Results never depend on an index, so
// this asks for no confirmation.
func (h *Handler) dropIndex(w http.ResponseWriter, r *http.Request, ss *session) {
	h.indexOp(w, r, ss, "unindexed", "Dropping the index failed: ", storage.Indexer.DropIndex)
}

func (h *Handler) indexOp(w http.ResponseWriter, r *http.Request, ss *session, done, failed string,
	op func(storage.Indexer, context.Context, string, string) error) {
	ix, ok := h.cfg.Store.(storage.Indexer)
	if !ok {
		h.renderNamespaces(w, r, ss, http.StatusNotImplemented, &view{Error: failed + "this store cannot change indexes."})
		return
	}
	ns, field := r.PostFormValue("ns"), strings.TrimSpace(r.PostFormValue("field"))
	if err := op(ix, r.Context(), ns, field); err != nil {
		status, msg := h.errorStatus(r, err)
		h.renderNamespaces(w, r, ss, status, &view{Error: failed + msg})
		return
	}
	http.Redirect(w, r, link("namespaces", "msg", done), http.StatusSeeOther)
}
