/* heron._speedups: the row loaders' per-row work in C (optional).
 *
 * Layer 4 helper (orm/loading.py uses it when it imports; otherwise the
 * generated Python loaders run). Building an instance from a row is the hot
 * path of every query (benchmarks W3, W5-W8): a new object, its __dict__
 * filled from the row, one InstanceState (the weak reference the identity map
 * holds) with every slot set, and the identity-map entry. The Python loaders
 * do this in about 30 bytecodes per row; here it is one C call, or one C loop
 * over all rows for plain and selectin loads.
 *
 * Semantics are those of orm/loading.py's generated loaders, which stay the
 * reference: a row whose key is already in the identity map is handed to a
 * Python callback (refresh and filing rules live there); only new instances
 * are built here. Single-column primary keys only (the caller checks).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>

/* set by configure(): the InstanceState type, its weakref callback, the
 * __dict__ key the state is stored under, and the offsets of its slots */
static PyObject *State = NULL;
static PyObject *gone = NULL;
static PyObject *state_key = NULL;
static PyObject *owner_attr = NULL; /* "_owner" (InstrumentedList) */
static PyObject *empty_tuple = NULL;
static PyObject *zero = NULL;
static PyObject *colset_attr = NULL; /* "column_key_set" */

enum { S_INSERT_ORDER, S_COMMITTED, S_MODIFIED, S_DELETED_FLUSHED, S_MAPPER, S_KEY, S_SESSION, N_SLOTS };
static const char *slot_names[N_SLOTS] = {
    "insert_order", "committed", "modified", "deleted_flushed", "mapper", "key", "session",
};
static Py_ssize_t offsets[N_SLOTS];

static inline void
set_slot(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    PyObject **addr = (PyObject **)((char *)obj + offset);
    PyObject *old = *addr;
    Py_INCREF(value);
    *addr = value;
    Py_XDECREF(old);
}

static PyObject *
configure(PyObject *module, PyObject *args)
{
    PyObject *state_type, *callback, *key;
    if (!PyArg_ParseTuple(args, "O!OU", &PyType_Type, &state_type, &callback, &key)) {
        return NULL;
    }
    for (int i = 0; i < N_SLOTS; i++) {
        PyObject *descr = PyObject_GetAttrString(state_type, slot_names[i]);
        if (descr == NULL) {
            return NULL;
        }
        if (!PyObject_TypeCheck(descr, &PyMemberDescr_Type)) {
            Py_DECREF(descr);
            PyErr_Format(PyExc_TypeError, "heron._speedups: %s is not a slot", slot_names[i]);
            return NULL;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX) {
            Py_DECREF(descr);
            PyErr_Format(PyExc_TypeError, "heron._speedups: %s is not an object slot",
                         slot_names[i]);
            return NULL;
        }
        offsets[i] = member->offset;
        Py_DECREF(descr);
    }
    Py_INCREF(state_type);
    Py_XSETREF(State, state_type);
    Py_INCREF(callback);
    Py_XSETREF(gone, callback);
    Py_INCREF(key);
    Py_XSETREF(state_key, key);
    Py_RETURN_NONE;
}

/* What one mapper's rows look like: parsed from the spec tuple
 * (cls, mapper, keys, indexes, pk_index) once per call. */
typedef struct {
    PyTypeObject *cls;
    PyObject *mapper;
    PyObject *keys;        /* tuple of str: attribute keys, in store order */
    Py_ssize_t n;
    Py_ssize_t idx[64];    /* row index of each key */
    Py_ssize_t pk_row;     /* row index of the primary key */
} Spec;

static int
parse_spec(PyObject *spec, Spec *s)
{
    if (State == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "heron._speedups: configure() was not called");
        return -1;
    }
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 5) {
        PyErr_SetString(PyExc_TypeError, "heron._speedups: bad spec");
        return -1;
    }
    PyObject *cls = PyTuple_GET_ITEM(spec, 0);
    PyObject *keys = PyTuple_GET_ITEM(spec, 2);
    PyObject *indexes = PyTuple_GET_ITEM(spec, 3);
    if (!PyType_Check(cls) || !PyTuple_Check(keys) || !PyTuple_Check(indexes)
        || PyTuple_GET_SIZE(keys) != PyTuple_GET_SIZE(indexes) || PyTuple_GET_SIZE(keys) > 64) {
        PyErr_SetString(PyExc_TypeError, "heron._speedups: bad spec");
        return -1;
    }
    s->cls = (PyTypeObject *)cls;
    s->mapper = PyTuple_GET_ITEM(spec, 1);
    s->keys = keys;
    s->n = PyTuple_GET_SIZE(keys);
    for (Py_ssize_t i = 0; i < s->n; i++) {
        s->idx[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(indexes, i));
        if (s->idx[i] == -1 && PyErr_Occurred()) {
            return -1;
        }
    }
    s->pk_row = PyLong_AsSsize_t(PyTuple_GET_ITEM(spec, 4));
    if (s->pk_row == -1 && PyErr_Occurred()) {
        return -1;
    }
    return 0;
}

/* A new instance of s->cls from ``row`` (identity-map key ``key``), its
 * state filed in ``identity``. Returns a new reference; *dict_out gets a
 * new reference to its __dict__. */
static PyObject *
build(Spec *s, PyObject *row, PyObject *key, PyObject *session, PyObject *identity,
      PyObject **dict_out)
{
    PyObject *obj = PyBaseObject_Type.tp_new(s->cls, empty_tuple, NULL);
    if (obj == NULL) {
        return NULL;
    }
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (d == NULL) {
        Py_DECREF(obj);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < s->n; i++) {
        PyObject *value;
        if (s->idx[i] == s->pk_row) {
            value = key;
            Py_INCREF(value);
        }
        else {
            value = PySequence_GetItem(row, s->idx[i]);
            if (value == NULL) {
                goto fail;
            }
        }
        int r = PyDict_SetItem(d, PyTuple_GET_ITEM(s->keys, i), value);
        Py_DECREF(value);
        if (r < 0) {
            goto fail;
        }
    }
    PyObject *args[2] = {obj, gone};
    PyObject *st = PyObject_Vectorcall(State, args, 2, NULL);
    if (st == NULL) {
        goto fail;
    }
    set_slot(st, offsets[S_INSERT_ORDER], zero);
    set_slot(st, offsets[S_COMMITTED], Py_None);
    set_slot(st, offsets[S_MODIFIED], Py_False);
    set_slot(st, offsets[S_DELETED_FLUSHED], Py_False);
    set_slot(st, offsets[S_MAPPER], s->mapper);
    set_slot(st, offsets[S_KEY], key);
    set_slot(st, offsets[S_SESSION], session);
    if (PyDict_SetItem(d, state_key, st) < 0 || PyDict_SetItem(identity, key, st) < 0) {
        Py_DECREF(st);
        goto fail;
    }
    Py_DECREF(st);
    if (dict_out != NULL) {
        *dict_out = d;
    }
    else {
        Py_DECREF(d);
    }
    return obj;
fail:
    Py_DECREF(d);
    Py_DECREF(obj);
    return NULL;
}

/* The live instance of identity-map entry ``st`` (borrowed), or NULL. */
static inline PyObject *
live(PyObject *st)
{
    PyObject *obj = PyWeakref_GET_OBJECT(st);
    return obj == Py_None ? NULL : obj;
}

/* load(spec, rows, session, identity, existing) -> list
 *
 * The plain loader: one instance (or None for a NULL key) per row. A row
 * whose key is in the identity map gives ``existing(st, obj, row)``'s result. */
static PyObject *
load(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "load(spec, rows, session, identity, existing)");
        return NULL;
    }
    Spec s;
    if (parse_spec(args[0], &s) < 0) {
        return NULL;
    }
    PyObject *rows = args[1], *session = args[2], *identity = args[3], *existing = args[4];
    if (!PyList_Check(rows) || !PyDict_Check(identity)) {
        PyErr_SetString(PyExc_TypeError, "load(): rows must be a list, identity a dict");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(rows);
    PyObject *out = PyList_New(count);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        PyObject *key = PySequence_GetItem(row, s.pk_row);
        if (key == NULL) {
            goto fail;
        }
        PyObject *obj;
        if (key == Py_None) {
            obj = Py_NewRef(Py_None);
        }
        else {
            PyObject *st = PyDict_GetItemWithError(identity, key);
            PyObject *found = st != NULL ? live(st) : NULL;
            if (found != NULL) {
                PyObject *cargs[3] = {st, found, row};
                obj = PyObject_Vectorcall(existing, cargs, 3, NULL);
            }
            else if (PyErr_Occurred()) {
                obj = NULL;
            }
            else {
                obj = build(&s, row, key, session, identity, NULL);
            }
        }
        Py_DECREF(key);
        if (obj == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(out, i, obj);
    }
    return out;
fail:
    /* items not yet set are NULL, which list deallocation skips */
    Py_DECREF(out);
    return NULL;
}

/* load_group(spec, rows, session, identity, existing, colls, group_index, back_key) -> None
 *
 * The selectin loader: each new instance is appended to ``colls[row[group_index]]``
 * (a collection whose ``_owner`` is the parent) and, with ``back_key``, that
 * back-reference set. A row whose key is in the identity map is handed to
 * ``existing(st, obj, row)``, which files it. NULL keys are skipped. */
static PyObject *
load_group(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "load_group(spec, rows, session, identity, existing, colls, "
                        "group_index, back_key)");
        return NULL;
    }
    Spec s;
    if (parse_spec(args[0], &s) < 0) {
        return NULL;
    }
    PyObject *rows = args[1], *session = args[2], *identity = args[3], *existing = args[4];
    PyObject *colls = args[5], *back_key = args[7];
    Py_ssize_t group_index = PyLong_AsSsize_t(args[6]);
    if (group_index == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_Check(rows) || !PyDict_Check(identity) || !PyDict_Check(colls)) {
        PyErr_SetString(PyExc_TypeError, "load_group(): rows must be a list, identity and colls dicts");
        return NULL;
    }
    Py_ssize_t count = PyList_GET_SIZE(rows);
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *row = PyList_GET_ITEM(rows, i);
        PyObject *key = PySequence_GetItem(row, s.pk_row);
        if (key == NULL) {
            return NULL;
        }
        if (key == Py_None) {
            Py_DECREF(key);
            continue;
        }
        PyObject *st = PyDict_GetItemWithError(identity, key);
        PyObject *found = st != NULL ? live(st) : NULL;
        if (found != NULL) {
            PyObject *cargs[3] = {st, found, row};
            PyObject *r = PyObject_Vectorcall(existing, cargs, 3, NULL);
            Py_DECREF(key);
            if (r == NULL) {
                return NULL;
            }
            Py_DECREF(r);
            continue;
        }
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            return NULL;
        }
        PyObject *d = NULL;
        PyObject *obj = build(&s, row, key, session, identity, &d);
        Py_DECREF(key);
        if (obj == NULL) {
            return NULL;
        }
        PyObject *group = PySequence_GetItem(row, group_index);
        if (group == NULL) {
            goto fail;
        }
        PyObject *coll = PyDict_GetItemWithError(colls, group);
        Py_DECREF(group);
        if (coll == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
        }
        else {
            if (PyList_Append(coll, obj) < 0) {
                goto fail;
            }
            if (back_key != Py_None) {
                PyObject *owner = PyObject_GetAttr(coll, owner_attr);
                if (owner == NULL) {
                    goto fail;
                }
                int r = PyDict_SetItem(d, back_key, owner);
                Py_DECREF(owner);
                if (r < 0) {
                    goto fail;
                }
            }
        }
        Py_DECREF(d);
        Py_DECREF(obj);
        continue;
    fail:
        Py_DECREF(d);
        Py_DECREF(obj);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* build_one(spec, row, key, session, identity) -> instance
 *
 * One new instance, for loaders that keep their own loop (joined folds). */
static PyObject *
build_one(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "build_one(spec, row, key, session, identity)");
        return NULL;
    }
    Spec s;
    if (parse_spec(args[0], &s) < 0) {
        return NULL;
    }
    if (!PyDict_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "build_one(): identity must be a dict");
        return NULL;
    }
    return build(&s, args[1], args[2], args[3], args[4], NULL);
}

/* add_new(objs, start, cls, mapper, cascade_keys, owner, session, new, counter)
 *     -> (stop, counter)
 *
 * Session.add_all's (and the save-update cascade's) new-object path, from
 * objs[start] on: an instance of exactly ``cls`` that has no state yet and
 * whose save-update relationships (``cascade_keys``, a tuple of attribute
 * keys) are unset, None or ``owner`` gets a pending state in ``session``
 * (insert_order = the next counter value) and goes into ``new``. Stops at the
 * first object it cannot take that way and returns its index (len(objs) when
 * done) with the counter; the caller handles that object its general way. */
static PyObject *
add_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 9) {
        PyErr_SetString(PyExc_TypeError,
                        "add_new(objs, start, cls, mapper, cascade_keys, owner, session, new, "
                        "counter)");
        return NULL;
    }
    PyObject *objs = args[0], *cls = args[2], *mapper = args[3], *cascade_keys = args[4];
    PyObject *owner = args[5], *session = args[6], *new = args[7];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (State == NULL || i < 0) {
        PyErr_SetString(PyExc_ValueError, "add_new(): not configured, or a negative start");
        return NULL;
    }
    long long counter = PyLong_AsLongLong(args[8]);
    if (counter == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (!PyList_Check(objs) || !PyTuple_Check(cascade_keys) || !PyDict_Check(new)) {
        PyErr_SetString(PyExc_TypeError, "add_new(): objs must be a list, cascade_keys a tuple, "
                                         "new a dict");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(objs);
    Py_ssize_t ncascade = PyTuple_GET_SIZE(cascade_keys);
    for (; i < n; i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        if ((PyObject *)Py_TYPE(obj) != cls) {
            break;
        }
        PyObject *d = PyObject_GenericGetDict(obj, NULL);
        if (d == NULL) {
            return NULL;
        }
        int ok = 1;
        int has = PyDict_Contains(d, state_key);
        if (has != 0) {
            ok = 0;
        }
        for (Py_ssize_t k = 0; ok && k < ncascade; k++) {
            PyObject *value = PyDict_GetItemWithError(d, PyTuple_GET_ITEM(cascade_keys, k));
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    has = -1;
                    ok = 0;
                }
            }
            else if (value != Py_None && value != owner) {
                ok = 0;
            }
        }
        if (has < 0) {
            Py_DECREF(d);
            return NULL;
        }
        if (!ok) {
            Py_DECREF(d);
            break;
        }
        PyObject *ref_args[2] = {obj, gone};
        PyObject *st = PyObject_Vectorcall(State, ref_args, 2, NULL);
        if (st == NULL) {
            Py_DECREF(d);
            return NULL;
        }
        PyObject *order = PyLong_FromLongLong(counter + 1);
        if (order == NULL) {
            Py_DECREF(st);
            Py_DECREF(d);
            return NULL;
        }
        set_slot(st, offsets[S_INSERT_ORDER], order);
        Py_DECREF(order);
        set_slot(st, offsets[S_COMMITTED], Py_None);
        set_slot(st, offsets[S_MODIFIED], Py_False);
        set_slot(st, offsets[S_DELETED_FLUSHED], Py_False);
        set_slot(st, offsets[S_MAPPER], mapper);
        set_slot(st, offsets[S_KEY], Py_None);
        set_slot(st, offsets[S_SESSION], session);
        int r = PyDict_SetItem(d, state_key, st);
        Py_DECREF(d);
        if (r == 0) {
            r = PyDict_SetItem(new, st, obj);
        }
        Py_DECREF(st);
        if (r < 0) {
            return NULL;
        }
        counter++;
    }
    return Py_BuildValue("(nL)", i, counter);
}

/* gather(dicts, keys, missing) -> [(values, n_missing), ...]
 *
 * The flush's column-wise view of new rows, in one pass over their
 * __dict__s: for each key, the list of values (``missing`` where a dict lacks
 * the key) and how many lack it. Replaces one C-level map per key for the
 * counts and one per key for the values (each a sweep over 10,000 dicts). */
static PyObject *
gather(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyTuple_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "gather(dicts: list, keys: tuple, missing)");
        return NULL;
    }
    PyObject *dicts = args[0], *keys = args[1], *missing = args[2];
    Py_ssize_t n = PyList_GET_SIZE(dicts), nk = PyTuple_GET_SIZE(keys);
    if (nk > 256) {
        PyErr_SetString(PyExc_ValueError, "gather(): too many keys");
        return NULL;
    }
    PyObject *lists[256];
    Py_ssize_t counts[256];
    PyObject *out = NULL;
    Py_ssize_t made = 0;
    for (; made < nk; made++) {
        lists[made] = PyList_New(n);
        counts[made] = 0;
        if (lists[made] == NULL) {
            goto done;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyList_GET_ITEM(dicts, i);
        if (!PyDict_Check(d)) {
            PyErr_SetString(PyExc_TypeError, "gather(): dicts must hold dicts");
            goto done;
        }
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *value = PyDict_GetItemWithError(d, PyTuple_GET_ITEM(keys, k));
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    goto done;
                }
                value = missing;
                counts[k]++;
            }
            Py_INCREF(value);
            PyList_SET_ITEM(lists[k], i, value);
        }
    }
    out = PyList_New(nk);
    if (out == NULL) {
        goto done;
    }
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *pair = Py_BuildValue("(On)", lists[k], counts[k]);
        if (pair == NULL) {
            Py_CLEAR(out);
            goto done;
        }
        PyList_SET_ITEM(out, k, pair);
    }
done:
    /* a list not yet filled holds NULLs, which its deallocation skips */
    for (Py_ssize_t k = 0; k < made; k++) {
        Py_DECREF(lists[k]);
    }
    return out;
}

/* set_keys(states, dicts, pk_key, identity) -> bool
 *
 * After a flush, for rows just inserted (one-column primary key): each
 * state's key from its __dict__ (``pk_key``), and its identity-map entry, in
 * one pass. Returns whether any state is marked modified or holds deferred
 * collection changes (pending_backrefs), which the caller then resets. */
static PyObject *
set_keys(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0]) || !PyList_Check(args[1])
        || !PyDict_Check(args[3]) || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1])) {
        PyErr_SetString(PyExc_TypeError,
                        "set_keys(states: list, dicts: list (same length), pk_key, identity: dict)");
        return NULL;
    }
    PyObject *states = args[0], *dicts = args[1], *pk_key = args[2], *identity = args[3];
    static PyObject *backrefs_name = NULL;
    if (backrefs_name == NULL) {
        backrefs_name = PyUnicode_InternFromString("pending_backrefs");
        if (backrefs_name == NULL) {
            return NULL;
        }
    }
    int dirty = 0;
    Py_ssize_t n = PyList_GET_SIZE(states);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *st = PyList_GET_ITEM(states, i);
        PyObject *d = PyList_GET_ITEM(dicts, i);
        if (!PyObject_TypeCheck(st, (PyTypeObject *)State) || !PyDict_Check(d)) {
            PyErr_SetString(PyExc_TypeError, "set_keys(): states and dicts expected");
            return NULL;
        }
        PyObject *key = PyDict_GetItemWithError(d, pk_key);
        if (key == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, pk_key);
            }
            return NULL;
        }
        set_slot(st, offsets[S_KEY], key);
        if (PyDict_SetItem(identity, key, st) < 0) {
            return NULL;
        }
        if (!dirty) {
            PyObject *modified = *(PyObject **)((char *)st + offsets[S_MODIFIED]);
            if (modified != NULL && modified != Py_False) {
                dirty = 1;
            }
            else {
                PyObject *pending = PyObject_GetAttr(st, backrefs_name);
                if (pending == NULL) {
                    return NULL;
                }
                dirty = pending != Py_None;
                Py_DECREF(pending);
            }
        }
    }
    return PyBool_FromLong(dirty);
}

/* set_columns(dicts, keys, columns) -> None
 *
 * dicts[i][keys[k]] = columns[k][i] for every row and key, in one pass over
 * the rows; a column that is not a list is one value for every row (an
 * immutable server default). The keys and defaults a COPY insert learned. */
static PyObject *
set_columns(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyTuple_Check(args[1])
        || !PyTuple_Check(args[2]) || PyTuple_GET_SIZE(args[1]) != PyTuple_GET_SIZE(args[2])) {
        PyErr_SetString(PyExc_TypeError, "set_columns(dicts: list, keys: tuple, columns: tuple)");
        return NULL;
    }
    PyObject *dicts = args[0], *keys = args[1], *columns = args[2];
    Py_ssize_t n = PyList_GET_SIZE(dicts), nk = PyTuple_GET_SIZE(keys);
    for (Py_ssize_t k = 0; k < nk; k++) {
        PyObject *col = PyTuple_GET_ITEM(columns, k);
        if (PyList_Check(col) && PyList_GET_SIZE(col) != n) {
            PyErr_SetString(PyExc_ValueError, "set_columns(): one value per row");
            return NULL;
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *d = PyList_GET_ITEM(dicts, i);
        if (!PyDict_Check(d)) {
            PyErr_SetString(PyExc_TypeError, "set_columns(): dicts must hold dicts");
            return NULL;
        }
        for (Py_ssize_t k = 0; k < nk; k++) {
            PyObject *col = PyTuple_GET_ITEM(columns, k);
            PyObject *value = PyList_Check(col) ? PyList_GET_ITEM(col, i) : col;
            if (PyDict_SetItem(d, PyTuple_GET_ITEM(keys, k), value) < 0) {
                return NULL;
            }
        }
    }
    Py_RETURN_NONE;
}

/* A state slot's value (borrowed; an unset slot reads as None). */
static inline PyObject *
slot(PyObject *st, int which)
{
    PyObject *value = *(PyObject **)((char *)st + offsets[which]);
    return value == NULL ? Py_None : value;
}

/* An InstanceState attribute kept in its own __dict__ (borrowed), or None
 * when it was never set (the class default, None, applies). */
static PyObject *
state_dict_attr(PyObject *st, PyObject *name)
{
    PyObject **dictptr = _PyObject_GetDictPtr(st);
    if (dictptr == NULL || *dictptr == NULL) {
        return Py_None;
    }
    PyObject *value = PyDict_GetItemWithError(*dictptr, name);
    if (value == NULL) {
        return PyErr_Occurred() ? NULL : Py_None;
    }
    return value;
}

static int
is_state(PyObject *obj)
{
    return State != NULL && PyObject_TypeCheck(obj, (PyTypeObject *)State);
}

/* pull_keys(states, dicts, rel_key, fk_keys, src_keys) -> bool
 *
 * persistence.pull_many_to_one_new's plain case, in one pass: for new rows
 * (no key, nothing expired) that each hold a related object under
 * ``rel_key``, copy its ``src_keys`` values into their ``fk_keys``. Returns
 * False, maybe after doing part of it, at the first row that is not such a
 * row: the caller's general path then does every row (the same writes). */
static PyObject *
pull_keys(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyList_Check(args[1])
        || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1]) || !PyTuple_Check(args[3])
        || !PyTuple_Check(args[4]) || PyTuple_GET_SIZE(args[3]) != PyTuple_GET_SIZE(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "pull_keys(states: list, dicts: list, rel_key, fk_keys: tuple, "
                        "src_keys: tuple)");
        return NULL;
    }
    static PyObject *expired_name = NULL;
    if (expired_name == NULL && (expired_name = PyUnicode_InternFromString("expired_keys")) == NULL) {
        return NULL;
    }
    PyObject *states = args[0], *dicts = args[1], *rel_key = args[2];
    PyObject *fk_keys = args[3], *src_keys = args[4];
    Py_ssize_t n = PyList_GET_SIZE(states), nk = PyTuple_GET_SIZE(fk_keys);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *st = PyList_GET_ITEM(states, i);
        PyObject *d = PyList_GET_ITEM(dicts, i);
        if (!is_state(st) || !PyDict_Check(d) || slot(st, S_KEY) != Py_None) {
            Py_RETURN_FALSE;
        }
        PyObject *expired = state_dict_attr(st, expired_name);
        if (expired == NULL) {
            return NULL;
        }
        int truth = PyObject_IsTrue(expired);
        if (truth != 0) {
            if (truth < 0) {
                return NULL;
            }
            Py_RETURN_FALSE;
        }
        PyObject *related = PyDict_GetItemWithError(d, rel_key);
        if (related == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            Py_RETURN_FALSE;
        }
        if (related == Py_None) {
            Py_RETURN_FALSE;
        }
        Py_INCREF(related); /* d may change below */
        PyObject *src = PyObject_GenericGetDict(related, NULL);
        if (src == NULL) {
            Py_DECREF(related);
            return NULL;
        }
        int failed = 0;
        for (Py_ssize_t k = 0; k < nk && !failed; k++) {
            PyObject *value = PyDict_GetItemWithError(src, PyTuple_GET_ITEM(src_keys, k));
            if (value == NULL) {
                if (PyErr_Occurred()) {
                    failed = 1;
                    break;
                }
                value = Py_None;
            }
            failed = PyDict_SetItem(d, PyTuple_GET_ITEM(fk_keys, k), value) < 0;
        }
        Py_DECREF(src);
        Py_DECREF(related);
        if (failed) {
            return NULL;
        }
    }
    Py_RETURN_TRUE;
}

/* nothing_to_push(states, objs, dicts, coll_key, back_key) -> bool
 *
 * persistence._nothing_to_push for one one-to-many relationship, in one
 * pass: True when every row is a plain new row (no key, no committed
 * values) and every member of every collection it holds under ``coll_key``
 * is a new object (a state without a key) whose ``back_key`` is that row.
 * With ``back_key`` None (no back-reference, or not a collection) only rows
 * that hold nothing there, or an empty list, pass. */
static PyObject *
nothing_to_push(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 5 || !PyList_Check(args[0]) || !PyList_Check(args[1]) || !PyList_Check(args[2])
        || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[1])
        || PyList_GET_SIZE(args[0]) != PyList_GET_SIZE(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "nothing_to_push(states: list, objs: list, dicts: list, coll_key, "
                        "back_key)");
        return NULL;
    }
    PyObject *states = args[0], *objs = args[1], *dicts = args[2];
    PyObject *coll_key = args[3], *back_key = args[4];
    Py_ssize_t n = PyList_GET_SIZE(states);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *st = PyList_GET_ITEM(states, i);
        PyObject *d = PyList_GET_ITEM(dicts, i);
        if (!is_state(st) || !PyDict_Check(d) || slot(st, S_KEY) != Py_None) {
            Py_RETURN_FALSE;
        }
        PyObject *committed = slot(st, S_COMMITTED);
        int truth = PyObject_IsTrue(committed);
        if (truth != 0) {
            if (truth < 0) {
                return NULL;
            }
            Py_RETURN_FALSE;
        }
        PyObject *coll = PyDict_GetItemWithError(d, coll_key);
        if (coll == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            continue;
        }
        if (!PyList_Check(coll)) {
            Py_RETURN_FALSE; /* None, or not a collection: the row-by-row path decides */
        }
        if (back_key == Py_None && PyList_GET_SIZE(coll)) {
            Py_RETURN_FALSE; /* members that cannot point back: the row-by-row path */
        }
        PyObject *owner = PyList_GET_ITEM(objs, i);
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(coll); j++) {
            PyObject *member = PyList_GET_ITEM(coll, j);
            PyObject *md = PyObject_GenericGetDict(member, NULL);
            if (md == NULL) {
                return NULL;
            }
            PyObject *mst = PyDict_GetItemWithError(md, state_key);
            PyObject *back = mst != NULL ? PyDict_GetItemWithError(md, back_key) : NULL;
            int ok = mst != NULL && is_state(mst) && slot(mst, S_KEY) == Py_None && back == owner;
            Py_DECREF(md);
            if (PyErr_Occurred()) {
                return NULL;
            }
            if (!ok) {
                Py_RETURN_FALSE;
            }
        }
    }
    Py_RETURN_TRUE;
}

/* group_by_mapper(states) -> {mapper: [state, ...]} in order of first appearance */
static PyObject *
group_by_mapper(PyObject *module, PyObject *states)
{
    if (!PyList_Check(states)) {
        PyErr_SetString(PyExc_TypeError, "group_by_mapper(states: list)");
        return NULL;
    }
    PyObject *groups = PyDict_New();
    if (groups == NULL) {
        return NULL;
    }
    PyObject *last_mapper = NULL, *last_list = NULL; /* borrowed from groups */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(states); i++) {
        PyObject *st = PyList_GET_ITEM(states, i);
        if (!is_state(st)) {
            PyErr_SetString(PyExc_TypeError, "group_by_mapper(): states expected");
            goto fail;
        }
        PyObject *mapper = slot(st, S_MAPPER);
        if (mapper != last_mapper) {
            last_list = PyDict_GetItemWithError(groups, mapper);
            if (last_list == NULL) {
                if (PyErr_Occurred()) {
                    goto fail;
                }
                PyObject *list = PyList_New(0);
                if (list == NULL || PyDict_SetItem(groups, mapper, list) < 0) {
                    Py_XDECREF(list);
                    goto fail;
                }
                Py_DECREF(list);
                last_list = list;
            }
            last_mapper = mapper;
        }
        if (PyList_Append(last_list, st) < 0) {
            goto fail;
        }
    }
    return groups;
fail:
    Py_DECREF(groups);
    return NULL;
}

/* Init: a mapped class's keyword __init__ in C.
 *
 * Init(columns, relationships, registry, python_init) is installed as the
 * class's __init__ (decl.py, _class_init). Calling the class then runs
 * init_call with the new instance and the keyword arguments as a dict:
 * column values go straight into the instance __dict__, relationships
 * through their setters afterwards, in declaration order. Anything else (a
 * positional argument, an unknown keyword, mappers not configured yet, an
 * instance that already has a state) goes, before anything is written, to
 * ``python_init``: the generated Python __init__ this one replaces, which
 * hands it to the general DeclarativeBase.__init__ with the keywords in its
 * order (columns, declared relationships, the rest). It is exposed as
 * __wrapped__, so inspect.signature(Class) shows the keyword parameters. */
typedef struct {
    PyObject_HEAD
    PyObject *columns;       /* frozenset of column keys */
    PyObject *relationships; /* tuple of (key, setter) in declaration order */
    PyObject *registry;      /* its .configured is checked on each call */
    PyObject *wrapped;
    PyObject *doc;
} InitObject;

static PyObject *configured_name = NULL;

static int
init_traverse(InitObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->columns);
    Py_VISIT(self->relationships);
    Py_VISIT(self->registry);
    Py_VISIT(self->wrapped);
    Py_VISIT(self->doc);
    return 0;
}

static int
init_clear(InitObject *self)
{
    Py_CLEAR(self->columns);
    Py_CLEAR(self->relationships);
    Py_CLEAR(self->registry);
    Py_CLEAR(self->wrapped);
    Py_CLEAR(self->doc);
    return 0;
}

static void
init_dealloc(InitObject *self)
{
    PyObject_GC_UnTrack(self);
    init_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
init_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *columns, *relationships, *registry, *wrapped;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "Init() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "O!O!OO", &PyFrozenSet_Type, &columns, &PyTuple_Type,
                          &relationships, &registry, &wrapped)) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(relationships); i++) {
        PyObject *pair = PyTuple_GET_ITEM(relationships, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "Init(): relationships are (key, setter) pairs");
            return NULL;
        }
    }
    InitObject *self = (InitObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->columns = Py_NewRef(columns);
    self->relationships = Py_NewRef(relationships);
    self->registry = Py_NewRef(registry);
    self->wrapped = Py_NewRef(wrapped);
    self->doc = PyObject_GetAttrString(wrapped, "__doc__");
    if (self->doc == NULL) {
        PyErr_Clear();
        self->doc = Py_NewRef(Py_None);
    }
    return (PyObject *)self;
}

static PyObject *
init_descr_get(PyObject *self, PyObject *obj, PyObject *type)
{
    if (obj == NULL || obj == Py_None) {
        return Py_NewRef(self);
    }
    return PyMethod_New(self, obj);
}

static PyObject *
init_call(InitObject *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    if (nargs != 1) {
        /* no instance, or positional arguments: the Python path raises */
        return PyObject_Call(self->wrapped, args, kwds);
    }
    PyObject *obj = PyTuple_GET_ITEM(args, 0);
    PyObject *configured = PyObject_GetAttr(self->registry, configured_name);
    if (configured == NULL) {
        return NULL;
    }
    int ready = PyObject_IsTrue(configured);
    Py_DECREF(configured);
    if (ready < 0) {
        return NULL;
    }
    PyObject *d = PyObject_GenericGetDict(obj, NULL);
    if (d == NULL) {
        return NULL;
    }
    int has_state = PyDict_Contains(d, state_key);
    if (has_state < 0) {
        Py_DECREF(d);
        return NULL;
    }
    Py_ssize_t nrel = PyTuple_GET_SIZE(self->relationships);
    int general = !ready || has_state;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    /* every keyword must name a column or a relationship of the class */
    while (!general && kwds != NULL && PyDict_Next(kwds, &pos, &key, &value)) {
        int is_column = PySet_Contains(self->columns, key);
        if (is_column < 0) {
            Py_DECREF(d);
            return NULL;
        }
        if (is_column) {
            continue;
        }
        int found = 0;
        for (Py_ssize_t r = 0; r < nrel && !found; r++) {
            PyObject *rel_key = PyTuple_GET_ITEM(PyTuple_GET_ITEM(self->relationships, r), 0);
            int eq = PyObject_RichCompareBool(rel_key, key, Py_EQ);
            if (eq < 0) {
                Py_DECREF(d);
                return NULL;
            }
            found = eq;
        }
        if (!found) {
            general = 1;
        }
    }
    if (general) {
        Py_DECREF(d);
        return PyObject_Call(self->wrapped, args, kwds);
    }
    if (kwds == NULL) {
        Py_DECREF(d);
        Py_RETURN_NONE;
    }
    /* columns first: a column store fires no event */
    int has_rel = 0;
    pos = 0;
    while (PyDict_Next(kwds, &pos, &key, &value)) {
        int is_column = PySet_Contains(self->columns, key);
        if (is_column < 0 || (is_column && PyDict_SetItem(d, key, value) < 0)) {
            Py_DECREF(d);
            return NULL;
        }
        has_rel |= !is_column;
    }
    Py_DECREF(d);
    /* then relationships, through their setters (they fire events) */
    for (Py_ssize_t r = 0; has_rel && r < nrel; r++) {
        PyObject *pair = PyTuple_GET_ITEM(self->relationships, r);
        value = PyDict_GetItemWithError(kwds, PyTuple_GET_ITEM(pair, 0));
        if (value == NULL) {
            if (PyErr_Occurred()) {
                return NULL;
            }
            continue;
        }
        PyObject *call_args[2] = {obj, value};
        PyObject *result = PyObject_Vectorcall(PyTuple_GET_ITEM(pair, 1), call_args, 2, NULL);
        if (result == NULL) {
            return NULL;
        }
        Py_DECREF(result);
    }
    Py_RETURN_NONE;
}

static PyMemberDef init_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(InitObject, wrapped), READONLY,
     "The generated Python __init__ this one stands for (its signature)."},
    {"__doc__", T_OBJECT, offsetof(InitObject, doc), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

/* SetAttr: DeclarativeBase.__setattr__ in C (decl.py installs it).
 *
 * A column key: the committed value is saved once (copy-on-write), an
 * expired key stops being expired, the instance is marked modified and held
 * by its session until flushed, then the value goes into __dict__. Any other
 * name: object.__setattr__ (relationships are data descriptors). The Python
 * method in decl.py is the reference and stays as __wrapped__. */
typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *no_value;
    PyObject *wrapped;
} SetAttrObject;

static PyObject *mapper_attr = NULL, *expired_attr = NULL, *strong_attr = NULL;

static PyObject *
setattr_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (nargs != 3 || (kwnames != NULL && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "__setattr__(self, name, value)");
        return NULL;
    }
    PyObject *no_value = ((SetAttrObject *)callable)->no_value;
    PyObject *self = args[0], *key = args[1], *value = args[2];
    PyObject *mapper = PyObject_GetAttr((PyObject *)Py_TYPE(self), mapper_attr);
    if (mapper == NULL) {
        return NULL;
    }
    PyObject *colset = PyObject_GetAttr(mapper, colset_attr);
    Py_DECREF(mapper);
    if (colset == NULL) {
        return NULL;
    }
    int is_column = PySet_Contains(colset, key);
    Py_DECREF(colset);
    if (is_column < 0) {
        return NULL;
    }
    if (!is_column) {
        if (PyObject_GenericSetAttr(self, key, value) < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    PyObject *d = PyObject_GenericGetDict(self, NULL);
    if (d == NULL) {
        return NULL;
    }
    PyObject *st = PyDict_GetItemWithError(d, state_key);
    if (st == NULL && PyErr_Occurred()) {
        goto fail;
    }
    if (st != NULL) {
        if (!is_state(st)) {
            PyErr_SetString(PyExc_TypeError, "__setattr__: the instance's state is not a state");
            goto fail;
        }
        Py_INCREF(st);
        int failed = 0;
        if (slot(st, S_KEY) != Py_None) {
            PyObject *old = PyDict_GetItemWithError(d, key);
            if (old == NULL) {
                failed = PyErr_Occurred() != NULL;
                old = no_value;
            }
            PyObject *committed = slot(st, S_COMMITTED);
            if (!failed && committed == Py_None) {
                PyObject *fresh = PyDict_New();
                failed = fresh == NULL || PyDict_SetItem(fresh, key, old) < 0;
                if (!failed) {
                    set_slot(st, offsets[S_COMMITTED], fresh);
                }
                Py_XDECREF(fresh);
            }
            else if (!failed && !PyDict_Check(committed)) {
                PyErr_SetString(PyExc_TypeError, "__setattr__: committed values are not a dict");
                failed = 1;
            }
            else if (!failed) {
                int has = PyDict_Contains(committed, key);
                failed = has < 0 || (!has && PyDict_SetItem(committed, key, old) < 0);
            }
            if (!failed) {
                PyObject *expired = state_dict_attr(st, expired_attr);
                int truth = expired == NULL ? -1 : PyObject_IsTrue(expired);
                if (truth > 0) {
                    if (PySet_Check(expired)) {
                        failed = PySet_Discard(expired, key) < 0;
                    }
                    else {
                        PyObject *r = PyObject_CallMethod(expired, "discard", "O", key);
                        failed = r == NULL;
                        Py_XDECREF(r);
                    }
                }
                failed |= truth < 0;
            }
        }
        if (!failed) {
            int modified = PyObject_IsTrue(slot(st, S_MODIFIED));
            if (modified < 0) {
                failed = 1;
            }
            else if (!modified) {
                set_slot(st, offsets[S_MODIFIED], Py_True);
                PyObject *session = slot(st, S_SESSION);
                if (session != Py_None) {
                    PyObject *strong = PyObject_GetAttr(session, strong_attr);
                    failed = strong == NULL || PyObject_SetItem(strong, st, self) < 0;
                    Py_XDECREF(strong);
                }
            }
        }
        Py_DECREF(st);
        if (failed) {
            goto fail;
        }
    }
    if (PyDict_SetItem(d, key, value) < 0) {
        goto fail;
    }
    Py_DECREF(d);
    Py_RETURN_NONE;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *
setattr_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *no_value, *wrapped;
    if ((kwds != NULL && PyDict_GET_SIZE(kwds)) || !PyArg_ParseTuple(args, "OO", &no_value, &wrapped)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "SetAttr(no_value, wrapped)");
        }
        return NULL;
    }
    SetAttrObject *self = (SetAttrObject *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->vectorcall = setattr_vectorcall;
    self->no_value = Py_NewRef(no_value);
    self->wrapped = Py_NewRef(wrapped);
    return (PyObject *)self;
}

static int
setattr_traverse(SetAttrObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->no_value);
    Py_VISIT(self->wrapped);
    return 0;
}

static int
setattr_clear(SetAttrObject *self)
{
    Py_CLEAR(self->no_value);
    Py_CLEAR(self->wrapped);
    return 0;
}

static void
setattr_dealloc(SetAttrObject *self)
{
    PyObject_GC_UnTrack(self);
    setattr_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMemberDef setattr_members[] = {
    {"__wrapped__", T_OBJECT, offsetof(SetAttrObject, wrapped), READONLY,
     "The Python __setattr__ this one stands for."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject SetAttrType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "heron._speedups.SetAttr",
    .tp_basicsize = sizeof(SetAttrObject),
    .tp_dealloc = (destructor)setattr_dealloc,
    .tp_vectorcall_offset = offsetof(SetAttrObject, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR
                | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "DeclarativeBase.__setattr__ in C (see decl.py).",
    .tp_traverse = (traverseproc)setattr_traverse,
    .tp_clear = (inquiry)setattr_clear,
    .tp_members = setattr_members,
    .tp_descr_get = init_descr_get,
    .tp_new = setattr_new,
};

static PyTypeObject InitType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "heron._speedups.Init",
    .tp_basicsize = sizeof(InitObject),
    .tp_dealloc = (destructor)init_dealloc,
    .tp_call = (ternaryfunc)init_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_METHOD_DESCRIPTOR,
    .tp_doc = "A mapped class's keyword __init__ (see decl.py _class_init).",
    .tp_traverse = (traverseproc)init_traverse,
    .tp_clear = (inquiry)init_clear,
    .tp_members = init_members,
    .tp_descr_get = init_descr_get,
    .tp_new = init_new,
};

static PyObject *prop_attr = NULL, *backrefs_attr = NULL;

/* new_collections(objs, key, coll_type, prop) -> (colls, shared)
 *
 * loaders._collections_by_key for a one-column parent key: one empty
 * collection (``coll_type``, a list subclass with _owner and _prop) per
 * distinct value of ``key`` in the objects' __dict__s (a missing key reads
 * as None), owned by the first object with it; later objects sharing a
 * value come back in ``shared`` as (object, value) pairs. */
static PyObject *
new_collections(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 4 || !PyList_Check(args[0]) || !PyType_Check(args[2])
        || !PyType_IsSubtype((PyTypeObject *)args[2], &PyList_Type)) {
        PyErr_SetString(PyExc_TypeError,
                        "new_collections(objs: list, key, coll_type: list subclass, prop)");
        return NULL;
    }
    PyObject *objs = args[0], *key = args[1], *prop = args[3];
    PyTypeObject *coll_type = (PyTypeObject *)args[2];
    PyObject *colls = PyDict_New();
    PyObject *shared = PyList_New(0);
    if (colls == NULL || shared == NULL) {
        goto fail;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        PyObject *d = PyObject_GenericGetDict(obj, NULL);
        if (d == NULL) {
            goto fail;
        }
        PyObject *value = PyDict_GetItemWithError(d, key);
        Py_XINCREF(value);
        Py_DECREF(d);
        if (value == NULL) {
            if (PyErr_Occurred()) {
                goto fail;
            }
            value = Py_NewRef(Py_None);
        }
        int seen = PyDict_Contains(colls, value);
        int r = 0;
        if (seen > 0) {
            PyObject *pair = PyTuple_Pack(2, obj, value);
            r = pair == NULL ? -1 : PyList_Append(shared, pair);
            Py_XDECREF(pair);
        }
        else if (seen == 0) {
            PyObject *coll = PyList_Type.tp_new(coll_type, empty_tuple, NULL);
            r = coll == NULL ? -1 : 0;
            if (r == 0) {
                r = PyObject_SetAttr(coll, owner_attr, obj);
            }
            if (r == 0) {
                r = PyObject_SetAttr(coll, prop_attr, prop);
            }
            if (r == 0) {
                r = PyDict_SetItem(colls, value, coll);
            }
            Py_XDECREF(coll);
        }
        Py_DECREF(value);
        if (seen < 0 || r < 0) {
            goto fail;
        }
    }
    PyObject *out = PyTuple_Pack(2, colls, shared);
    Py_DECREF(colls);
    Py_DECREF(shared);
    return out;
fail:
    Py_XDECREF(colls);
    Py_XDECREF(shared);
    return NULL;
}

/* install_collections(colls, start, key) -> index
 *
 * instrumentation.install_collections from colls[start] on: each collection
 * becomes ``key`` of its _owner's __dict__. Stops after installing one whose
 * owner's state holds deferred changes (pending_backrefs) and returns its
 * index, for the caller to replay them and go on from the next (the order
 * of the Python loop); returns len(colls) when done. */
static PyObject *
install_collections(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "install_collections(colls: list, start, key)");
        return NULL;
    }
    PyObject *colls = args[0], *key = args[2];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (i < 0) {
        PyErr_SetString(PyExc_ValueError, "install_collections(): a negative start");
        return NULL;
    }
    for (; i < PyList_GET_SIZE(colls); i++) {
        PyObject *coll = PyList_GET_ITEM(colls, i);
        PyObject *owner = PyObject_GetAttr(coll, owner_attr);
        if (owner == NULL) {
            return NULL;
        }
        PyObject *d = PyObject_GenericGetDict(owner, NULL);
        Py_DECREF(owner);
        if (d == NULL) {
            return NULL;
        }
        int r = PyDict_SetItem(d, key, coll);
        PyObject *st = r < 0 ? NULL : PyDict_GetItemWithError(d, state_key);
        int replay = 0;
        if (st != NULL && is_state(st)) {
            PyObject *backrefs = state_dict_attr(st, backrefs_attr);
            replay = backrefs == NULL ? -1 : PyObject_IsTrue(backrefs);
        }
        Py_DECREF(d);
        if (r < 0 || replay < 0 || PyErr_Occurred()) {
            return NULL;
        }
        if (replay) {
            break;
        }
    }
    return PyLong_FromSsize_t(i);
}

/* mark_deleted(states, identity) -> [(state, instance), ...]
 *
 * After a flush, for rows whose DELETE it sent: deleted_flushed = True, and
 * out of their mapper's identity map (``identity``: mapper -> map) when the
 * entry there is still this state; returns (state, instance) pairs for the
 * transaction's record, in one pass. */
static PyObject *
mark_deleted(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyList_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "mark_deleted(states: list, identity: dict)");
        return NULL;
    }
    PyObject *states = args[0], *identity = args[1];
    Py_ssize_t n = PyList_GET_SIZE(states);
    PyObject *out = PyList_New(n);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *st = PyList_GET_ITEM(states, i);
        if (!is_state(st)) {
            PyErr_SetString(PyExc_TypeError, "mark_deleted(): states expected");
            goto fail;
        }
        set_slot(st, offsets[S_DELETED_FLUSHED], Py_True);
        PyObject *key = slot(st, S_KEY);
        PyObject *imap = PyDict_GetItemWithError(identity, slot(st, S_MAPPER));
        if (imap == NULL && PyErr_Occurred()) {
            goto fail;
        }
        if (imap != NULL && key != Py_None && PyDict_Check(imap)) {
            PyObject *entry = PyDict_GetItemWithError(imap, key);
            if (entry == NULL && PyErr_Occurred()) {
                goto fail;
            }
            if (entry == st && PyDict_DelItem(imap, key) < 0) {
                goto fail;
            }
        }
        PyObject *pair = PyTuple_Pack(2, st, PyWeakref_GET_OBJECT(st));
        if (pair == NULL) {
            goto fail;
        }
        PyList_SET_ITEM(out, i, pair);
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* collect_updates(strong, skip, no_value) -> {(mapper, keys): [obj, ...]}
 *
 * unitofwork.collect_updates in C: persistent objects held by the session
 * (``strong``: state -> object) whose committed values differ from their
 * current ones, grouped by mapper and the tuple of changed column keys. A
 * value counts as unchanged when it is the same object, or of the same type
 * and equal; ``no_value`` marks "had no value". ``skip`` holds id()s of
 * states to leave out (rows being deleted). */
static PyObject *
collect_updates(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyDict_Check(args[0]) || !PyAnySet_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "collect_updates(strong: dict, skip: set, no_value)");
        return NULL;
    }
    PyObject *strong = args[0], *skip = args[1], *no_value = args[2];
    int skipping = PySet_GET_SIZE(skip) > 0;
    PyObject *groups = PyDict_New();
    if (groups == NULL) {
        return NULL;
    }
    PyObject *last_mapper = NULL, *colset = NULL; /* colset: a new reference */
    PyObject *st, *obj;
    Py_ssize_t pos = 0;
    while (PyDict_Next(strong, &pos, &st, &obj)) {
        if (!is_state(st)) {
            PyErr_SetString(PyExc_TypeError, "collect_updates(): states expected");
            goto fail;
        }
        PyObject *committed = slot(st, S_COMMITTED);
        if (!PyDict_Check(committed) || PyDict_GET_SIZE(committed) == 0
            || slot(st, S_KEY) == Py_None) {
            continue;
        }
        if (skipping) {
            PyObject *ident = PyLong_FromVoidPtr(st);
            int skipped = ident == NULL ? -1 : PySet_Contains(skip, ident);
            Py_XDECREF(ident);
            if (skipped < 0) {
                goto fail;
            }
            if (skipped) {
                continue;
            }
        }
        PyObject *mapper = slot(st, S_MAPPER);
        if (mapper != last_mapper) {
            Py_XDECREF(colset);
            colset = PyObject_GetAttr(mapper, colset_attr);
            if (colset == NULL) {
                goto fail;
            }
            last_mapper = mapper;
        }
        PyObject *d = PyObject_GenericGetDict(obj, NULL);
        if (d == NULL) {
            goto fail;
        }
        /* held while values' __eq__ (any code) runs */
        Py_INCREF(committed);
        Py_INCREF(obj);
        PyObject *changed = NULL; /* a list of keys, made on the first change */
        PyObject *key, *old;
        Py_ssize_t cpos = 0;
        int failed = 0;
        while (PyDict_Next(committed, &cpos, &key, &old)) {
            int is_column = PySet_Contains(colset, key);
            if (is_column <= 0) {
                failed = is_column < 0;
                if (failed) {
                    break;
                }
                continue;
            }
            PyObject *new = PyDict_GetItemWithError(d, key);
            if (new == NULL) {
                if (PyErr_Occurred()) {
                    failed = 1;
                    break;
                }
                continue; /* no value now (expired): nothing to write */
            }
            if (new == no_value) {
                continue;
            }
            if (old != no_value) {
                if (old == new) {
                    continue;
                }
                if (Py_TYPE(old) == Py_TYPE(new)) {
                    int eq = PyObject_RichCompareBool(old, new, Py_EQ);
                    if (eq < 0) {
                        failed = 1;
                        break;
                    }
                    if (eq) {
                        continue;
                    }
                }
            }
            if (changed == NULL && (changed = PyList_New(0)) == NULL) {
                failed = 1;
                break;
            }
            if (PyList_Append(changed, key) < 0) {
                failed = 1;
                break;
            }
        }
        Py_DECREF(d);
        Py_DECREF(committed);
        if (failed || changed == NULL) {
            Py_DECREF(obj);
            Py_XDECREF(changed);
            if (failed) {
                goto fail;
            }
            continue;
        }
        PyObject *keys = PyList_AsTuple(changed);
        Py_DECREF(changed);
        PyObject *group_key = keys == NULL ? NULL : PyTuple_Pack(2, mapper, keys);
        Py_XDECREF(keys);
        if (group_key == NULL) {
            Py_DECREF(obj);
            goto fail;
        }
        PyObject *members = PyDict_GetItemWithError(groups, group_key);
        int r;
        if (members != NULL) {
            r = PyList_Append(members, obj);
        }
        else if (PyErr_Occurred()) {
            r = -1;
        }
        else {
            members = PyList_New(1);
            r = members == NULL ? -1 : 0;
            if (r == 0) {
                PyList_SET_ITEM(members, 0, Py_NewRef(obj));
                r = PyDict_SetItem(groups, group_key, members);
                Py_DECREF(members);
            }
        }
        Py_DECREF(group_key);
        Py_DECREF(obj);
        if (r < 0) {
            goto fail;
        }
    }
    Py_XDECREF(colset);
    return groups;
fail:
    Py_XDECREF(colset);
    Py_DECREF(groups);
    return NULL;
}

/* unloaded(objs, key, held) -> [obj, ...]
 *
 * The objects a selectin load of relationship ``key`` has to fill: ``key``
 * not in their __dict__ and not among their state's committed values (a
 * pending change); with ``held`` (a dict keyed by state, or None), only
 * objects whose state is in it. One pass (benchmarks W6: the children of
 * 10,000 deleted parents). */
static PyObject *
unloaded(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || (args[2] != Py_None && !PyDict_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError, "unloaded(objs: list, key, held: dict | None)");
        return NULL;
    }
    PyObject *objs = args[0], *key = args[1], *held = args[2];
    PyObject *out = PyList_New(0);
    if (out == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
        PyObject *obj = PyList_GET_ITEM(objs, i);
        PyObject *d = PyObject_GenericGetDict(obj, NULL);
        if (d == NULL) {
            goto fail;
        }
        int has = PyDict_Contains(d, key);
        PyObject *st = has == 0 ? PyDict_GetItemWithError(d, state_key) : NULL;
        Py_XINCREF(st);
        Py_DECREF(d);
        if (has < 0 || (st == NULL && PyErr_Occurred())) {
            Py_XDECREF(st);
            goto fail;
        }
        int take = has == 0;
        if (take && held != Py_None) {
            take = st != NULL ? PyDict_Contains(held, st) : 0;
        }
        if (take > 0 && st != NULL && is_state(st)) {
            PyObject *committed = slot(st, S_COMMITTED);
            if (PyDict_Check(committed) && PyDict_GET_SIZE(committed)) {
                int pending = PyDict_Contains(committed, key);
                take = pending < 0 ? -1 : !pending;
            }
        }
        Py_XDECREF(st);
        if (take < 0 || (take > 0 && PyList_Append(out, obj) < 0)) {
            goto fail;
        }
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef methods[] = {
    {"unloaded", (PyCFunction)(void (*)(void))unloaded, METH_FASTCALL,
     "unloaded(objs, key, held) -> the objects a selectin load of key has to fill."},
    {"collect_updates", (PyCFunction)(void (*)(void))collect_updates, METH_FASTCALL,
     "collect_updates(strong, skip, no_value) -> {(mapper, changed keys): [obj, ...]}."},
    {"new_collections", (PyCFunction)(void (*)(void))new_collections, METH_FASTCALL,
     "new_collections(objs, key, coll_type, prop) -> (colls, shared)."},
    {"install_collections", (PyCFunction)(void (*)(void))install_collections, METH_FASTCALL,
     "install_collections(colls, start, key) -> index of one to replay, or len(colls)."},
    {"mark_deleted", (PyCFunction)(void (*)(void))mark_deleted, METH_FASTCALL,
     "mark_deleted(states, identity) -> [(state, instance), ...]."},
    {"pull_keys", (PyCFunction)(void (*)(void))pull_keys, METH_FASTCALL,
     "pull_keys(states, dicts, rel_key, fk_keys, src_keys) -> whether every row was done."},
    {"nothing_to_push", (PyCFunction)(void (*)(void))nothing_to_push, METH_FASTCALL,
     "nothing_to_push(states, objs, dicts, coll_key, back_key) -> bool."},
    {"group_by_mapper", group_by_mapper, METH_O,
     "group_by_mapper(states) -> {mapper: states} in order of first appearance."},
    {"set_columns", (PyCFunction)(void (*)(void))set_columns, METH_FASTCALL,
     "set_columns(dicts, keys, columns): set each row's values (a non-list: every row's)."},
    {"gather", (PyCFunction)(void (*)(void))gather, METH_FASTCALL,
     "gather(dicts, keys, missing) -> [(values, n_missing), ...] per key."},
    {"set_keys", (PyCFunction)(void (*)(void))set_keys, METH_FASTCALL,
     "set_keys(states, dicts, pk_key, identity) -> whether any state needs a reset."},
    {"add_new", (PyCFunction)(void (*)(void))add_new, METH_FASTCALL,
     "add_new(objs, start, cls, mapper, cascade_keys, owner, session, new, counter)."},
    {"configure", configure, METH_VARARGS,
     "configure(State, gone, state_key): learn InstanceState's slots."},
    {"load", (PyCFunction)(void (*)(void))load, METH_FASTCALL,
     "load(spec, rows, session, identity, existing) -> list of instances."},
    {"load_group", (PyCFunction)(void (*)(void))load_group, METH_FASTCALL,
     "load_group(spec, rows, session, identity, existing, colls, group_index, back_key)."},
    {"build_one", (PyCFunction)(void (*)(void))build_one, METH_FASTCALL,
     "build_one(spec, row, key, session, identity) -> a new instance."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "heron._speedups",
    "C versions of the row loaders' per-row work (optional; see orm/loading.py).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    empty_tuple = PyTuple_New(0);
    zero = PyLong_FromLong(0);
    configured_name = PyUnicode_InternFromString("configured");
    owner_attr = PyUnicode_InternFromString("_owner");
    prop_attr = PyUnicode_InternFromString("_prop");
    backrefs_attr = PyUnicode_InternFromString("pending_backrefs");
    colset_attr = PyUnicode_InternFromString("column_key_set");
    if (empty_tuple == NULL || zero == NULL || configured_name == NULL || owner_attr == NULL
        || prop_attr == NULL || backrefs_attr == NULL || colset_attr == NULL) {
        return NULL;
    }
    mapper_attr = PyUnicode_InternFromString("__mapper__");
    expired_attr = PyUnicode_InternFromString("expired_keys");
    strong_attr = PyUnicode_InternFromString("_strong");
    if (mapper_attr == NULL || expired_attr == NULL || strong_attr == NULL) {
        return NULL;
    }
    if (PyType_Ready(&InitType) < 0 || PyType_Ready(&SetAttrType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&InitType);
    if (PyModule_AddObject(module, "Init", (PyObject *)&InitType) < 0) {
        Py_DECREF(&InitType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&SetAttrType);
    if (PyModule_AddObject(module, "SetAttr", (PyObject *)&SetAttrType) < 0) {
        Py_DECREF(&SetAttrType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
