/* The guesser's hot loop (hatbot.server.guesser): add one hint's scores to a call's running
 * total and return the best candidates, without numpy's temporary arrays and calls; and the
 * host's rules that rule a candidate out, checked against every hint in one call.
 *
 * Selection is exact and cheap: the candidates are laid out as COLUMNS x m (m = n / COLUMNS),
 * and the count-th highest of the m column maxima is a score that at least count candidates
 * reach. Only the candidates of columns reaching it are offered to a heap of count entries
 * (about count of them), instead of all n. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COLUMNS 32

typedef struct {
    float score;
    int64_t group;
    Py_ssize_t row;
} Entry;

/* Whether a ranks before b: higher score, then lower group (as the guesser ranks), then row. */
static inline int before(const Entry *a, const Entry *b) {
    if (a->score != b->score) return a->score > b->score;
    if (a->group != b->group) return a->group < b->group;
    return a->row < b->row;
}

static void swap(Entry *a, Entry *b) {
    Entry kept = *a;
    *a = *b;
    *b = kept;
}

/* A heap of the best entries offered so far, its worst entry first. */
typedef struct {
    Entry *entries;
    Py_ssize_t size, capacity;
} Best;

static void offer(Best *best, Entry entry) {
    Entry *heap = best->entries;
    Py_ssize_t i;
    if (best->size < best->capacity) {
        i = best->size++;
        heap[i] = entry;
        while (i > 0 && before(&heap[(i - 1) / 2], &heap[i])) {
            swap(&heap[(i - 1) / 2], &heap[i]);
            i = (i - 1) / 2;
        }
        return;
    }
    if (best->capacity == 0 || !before(&entry, &heap[0])) return;
    heap[0] = entry;
    for (i = 0;;) {
        Py_ssize_t worst = i, left = 2 * i + 1, right = left + 1;
        if (left < best->size && before(&heap[worst], &heap[left])) worst = left;
        if (right < best->size && before(&heap[worst], &heap[right])) worst = right;
        if (worst == i) return;
        swap(&heap[i], &heap[worst]);
        i = worst;
    }
}

static int by_rank(const void *a, const void *b) {
    return before(a, b) ? -1 : before(b, a);
}

/* sums += row * weight in float32, as numpy adds (no fused multiply-add: see setup.py);
 * scores = sums + prior. A row is int16 (stored scores) or float32 (computed live). */
static void add(float *restrict sums, const Py_buffer *row, float weight,
                const float *restrict prior, float *restrict scores, Py_ssize_t n) {
    if (row != NULL && row->itemsize == 2) {
        const int16_t *restrict values = row->buf;
        for (Py_ssize_t i = 0; i < n; i++) sums[i] = sums[i] + (float)values[i] * weight;
    } else if (row != NULL) {
        const float *restrict values = row->buf;
        for (Py_ssize_t i = 0; i < n; i++) sums[i] = sums[i] + values[i] * weight;
    }
    for (Py_ssize_t i = 0; i < n; i++) scores[i] = sums[i] + prior[i];
}

static void column_maxima(const float *restrict scores, float *restrict maxima, Py_ssize_t m) {
    memcpy(maxima, scores, (size_t)m * sizeof(float));
    for (Py_ssize_t r = 1; r < COLUMNS; r++) {
        const float *line = scores + r * m;
        for (Py_ssize_t c = 0; c < m; c++) maxima[c] = line[c] > maxima[c] ? line[c] : maxima[c];
    }
}

/* The best count candidates into best (capacity count), using maxima (m floats) as scratch. */
static void select_best(const float *scores, const int64_t *group, Py_ssize_t n, float *maxima,
                        Best *best) {
    Py_ssize_t m = n / COLUMNS;
    if (m < best->capacity) {
        for (Py_ssize_t i = 0; i < n; i++) offer(best, (Entry){scores[i], group[i], i});
        return;
    }
    column_maxima(scores, maxima, m);
    for (Py_ssize_t c = 0; c < m; c++) offer(best, (Entry){maxima[c], 0, c});
    float reached = best->entries[0].score;
    best->size = 0;
    for (Py_ssize_t c = 0; c < m; c++) {
        if (maxima[c] < reached) continue;
        for (Py_ssize_t i = c; i < m * COLUMNS; i += m)
            if (scores[i] >= reached) offer(best, (Entry){scores[i], group[i], i});
    }
    for (Py_ssize_t i = m * COLUMNS; i < n; i++) offer(best, (Entry){scores[i], group[i], i});
}

/* A one-dimensional contiguous buffer whose items are of one of formats: int16 ('h'), float32
 * ('f') or int64 ('q', 'l', 'L'). */
static int get_array(PyObject *object, Py_buffer *view, const char *name, const char *formats,
                     int flags) {
    if (PyObject_GetBuffer(object, view, flags | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *format = view->format;
    if (format[0] == '=' || format[0] == '<' || format[0] == '@') format++;
    Py_ssize_t itemsize = format[0] == 'h' ? 2 : format[0] == 'f' ? 4 : 8;
    if (view->ndim != 1 || strlen(format) != 1 || strchr(formats, format[0]) == NULL
        || view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s must be a one-dimensional array of %s", name,
                     formats[0] == 'h' ? "int16 or float32" : formats[0] == 'f' ? "float32"
                                                                                  : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *add_and_rank(PyObject *module, PyObject *args) {
    (void)module;
    PyObject *total_object, *row_object, *prior_object, *group_object;
    float weight;
    Py_ssize_t count;
    if (!PyArg_ParseTuple(args, "OOfOOn:add_and_rank", &total_object, &row_object, &weight,
                          &prior_object, &group_object, &count))
        return NULL;
    Py_buffer views[4];
    int taken = 0, has_row = row_object != Py_None;
    PyObject *result = NULL;
    float *scratch = NULL;
    Entry *entries = NULL;
    if (get_array(total_object, &views[taken], "total", "f", PyBUF_WRITABLE) < 0) goto done;
    taken++;
    if (get_array(prior_object, &views[taken], "prior", "f", 0) < 0) goto done;
    taken++;
    if (get_array(group_object, &views[taken], "group", "qlL", 0) < 0) goto done;
    taken++;
    if (has_row) {
        if (get_array(row_object, &views[taken], "row", "hf", 0) < 0) goto done;
        taken++;
    }
    Py_ssize_t n = views[0].shape[0];
    if (views[1].shape[0] != n || views[2].shape[0] != n || (has_row && views[3].shape[0] != n)) {
        PyErr_SetString(PyExc_ValueError, "total, row, prior and group must have one length");
        goto done;
    }
    if (count < 0) {
        PyErr_SetString(PyExc_ValueError, "count must not be negative");
        goto done;
    }
    if (count > n) count = n;
    scratch = PyMem_Malloc((size_t)(n + n / COLUMNS + 1) * sizeof(float));
    entries = PyMem_Malloc((size_t)(count + 1) * sizeof(Entry));
    if (scratch == NULL || entries == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    add(views[0].buf, has_row ? &views[3] : NULL, weight, views[1].buf, scratch, n);
    Best best = {entries, 0, count};
    if (count > 0) select_best(scratch, views[2].buf, n, scratch + n, &best);
    qsort(entries, (size_t)best.size, sizeof(Entry), by_rank);
    result = PyList_New(best.size);
    for (Py_ssize_t i = 0; result != NULL && i < best.size; i++) {
        PyObject *row = PyLong_FromSsize_t(entries[i].row);
        if (row == NULL) Py_CLEAR(result);
        else PyList_SET_ITEM(result, i, row);
    }
done:
    PyMem_Free(entries);
    PyMem_Free(scratch);
    while (taken > 0) PyBuffer_Release(&views[--taken]);
    return result;
}

/* Whether strings a and b (code points) are fewer than min_edits Levenshtein edits apart. */
static int within_edits(PyObject *a, PyObject *b, Py_ssize_t min_edits) {
    Py_ssize_t la = PyUnicode_GET_LENGTH(a), lb = PyUnicode_GET_LENGTH(b);
    if (la - lb >= min_edits || lb - la >= min_edits) return 0;
    int ka = PyUnicode_KIND(a), kb = PyUnicode_KIND(b);
    const void *da = PyUnicode_DATA(a), *db = PyUnicode_DATA(b);
    Py_ssize_t small[64], *rows = small;  /* two DP rows; on the heap for long strings */
    if (2 * (lb + 1) > 64 && (rows = PyMem_Malloc(2 * (size_t)(lb + 1) * sizeof(*rows))) == NULL)
        return -1;
    Py_ssize_t *previous = rows, *current = rows + lb + 1;
    for (Py_ssize_t j = 0; j <= lb; j++) previous[j] = j;
    Py_ssize_t row_min = 0;
    for (Py_ssize_t i = 1; i <= la && row_min < min_edits; i++) {
        Py_UCS4 ca = PyUnicode_READ(ka, da, i - 1);
        current[0] = row_min = i;
        for (Py_ssize_t j = 1; j <= lb; j++) {
            Py_ssize_t cost = previous[j - 1] + (ca != PyUnicode_READ(kb, db, j - 1));
            if (previous[j] + 1 < cost) cost = previous[j] + 1;
            if (current[j - 1] + 1 < cost) cost = current[j - 1] + 1;
            current[j] = cost;
            if (cost < row_min) row_min = cost;
        }
        Py_ssize_t *kept = previous;
        previous = current;
        current = kept;
    }
    /* A row's minimum never decreases below: once it reaches min_edits, so does the distance. */
    int within = row_min < min_edits && previous[lb] < min_edits;
    if (rows != small) PyMem_Free(rows);
    return within;
}

static PyObject *unrelated(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyTuple_Check(args[1]) ||
        !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "unrelated(word: str, hints: tuple[str, ...], both_ways, min_edits: int)");
        return NULL;
    }
    PyObject *word = args[0], *hints = args[1];
    int both_ways = PyObject_IsTrue(args[2]);
    if (both_ways < 0) return NULL;
    Py_ssize_t min_edits = PyLong_AsSsize_t(args[3]);
    if (min_edits == -1 && PyErr_Occurred()) return NULL;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(hints); i++) {
        PyObject *hint = PyTuple_GET_ITEM(hints, i);
        if (!PyUnicode_Check(hint)) {
            PyErr_SetString(PyExc_TypeError, "hints must be str");
            return NULL;
        }
        int related = PyUnicode_Contains(hint, word);
        if (related == 0 && both_ways) related = PyUnicode_Contains(word, hint);
        if (related == 0) related = within_edits(word, hint, min_edits);
        if (related < 0) return NULL;
        if (related) Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

static PyMethodDef methods[] = {
    {"unrelated", (PyCFunction)(void (*)(void))unrelated, METH_FASTCALL,
     "unrelated(word, hints, both_ways, min_edits) -> bool\n\n"
     "Whether no hint contains word (nor, with both_ways, is contained in it) and every hint\n"
     "is at least min_edits Levenshtein edits from it."},
    {"add_and_rank", add_and_rank, METH_VARARGS,
     "add_and_rank(total, row, weight, prior, group, count) -> list[int]\n\n"
     "Add row * weight to total in place (float32; nothing when row is None), then return\n"
     "the count rows of highest total + prior, best first: ties go to the lower group."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_ranking", "The guesser's compiled ranking.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ranking(void) { return PyModule_Create(&definition); }
