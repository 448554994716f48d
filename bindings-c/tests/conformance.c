/*
 * The shared conformance fixtures (tests/conformance/, see its README) run
 * through the C ABI. Every output buffer must equal the expected file byte
 * for byte (the file holds one line of compact JSON and a newline), so a
 * field the ABI drops, renames or reorders fails here.
 *
 * Built and run by bindings-c/test.sh (plainly, under valgrind and with
 * -fsanitize=address,undefined):
 *   conformance <path to tests/conformance>
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sliceplane.h"

static int passed = 0;
static int failed = 0;

static void fail(const char *what, const char *detail) {
    failed++;
    fprintf(stderr, "FAIL %s: %s\n", what, detail);
}

/* Reads a whole file; NULL (and a failure) when it cannot. `*len` is the
 * byte count; the buffer is NUL-terminated. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail(path, "cannot open");
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            cap *= 2;
            char *bigger = realloc(buf, cap);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    fclose(f);
    if (buf == NULL) {
        fail(path, "out of memory");
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static char *path_of(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Compares `got` (len bytes) with dir/expected/name. */
static void expect(const char *dir, const char *name, const uint8_t *got, size_t len) {
    char sub[256];
    snprintf(sub, sizeof sub, "expected/%s", name);
    char *path = path_of(dir, sub);
    size_t wlen = 0;
    char *want = path ? read_file(path, &wlen) : NULL;
    if (want != NULL) {
        if (wlen > 0 && want[wlen - 1] == '\n') wlen--;
        if (wlen == len && memcmp(want, got, len) == 0) {
            passed++;
        } else {
            failed++;
            fprintf(stderr, "FAIL %s:\n  want %.*s\n  got  %.*s\n", path, (int)wlen, want, (int)len,
                    (const char *)got);
        }
    }
    free(want);
    free(path);
}

static int check_rc(uint32_t rc, sp_error *err, const char *what) {
    if (rc == SP_OK) return 1;
    fprintf(stderr, "FAIL %s: %s %s\n", what, sp_error_code(err), sp_error_message(err));
    failed++;
    sp_error_free(err);
    return 0;
}

/* The end of the JSON value starting at `p` (an object or array; strings
 * and escapes skipped). */
static const char *value_end(const char *p) {
    int depth = 0, in_str = 0;
    for (; *p; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\' && p[1]) p++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return p + 1;
        }
    }
    return p;
}

/* The ids of the writes in a flush buffer: each top-level element is an
 * object whose first key is "id". Returns how many. */
static int write_ids(const char *p, uint64_t *ids, int max) {
    int n = 0;
    if (*p != '[') return 0;
    p++;
    while (*p == '{' && n < max) {
        if (strncmp(p, "{\"id\":", 6) != 0) return -1;
        ids[n++] = strtoull(p + 6, NULL, 10);
        p = value_end(p);
        if (*p == ',') p++;
    }
    return n;
}

/* Appends the elements of the JSON array `arr` to the growing array text
 * `*acc` (without its closing bracket). */
static void append_elements(char **acc, size_t *len, const char *arr) {
    size_t inner = strlen(arr);
    if (inner <= 2) return; /* "[]" */
    inner -= 2;
    char *grown = realloc(*acc, *len + inner + 2);
    if (grown == NULL) return;
    *acc = grown;
    if (*len > 1) (*acc)[(*len)++] = ',';
    memcpy(*acc + *len, arr + 1, inner);
    *len += inner;
    (*acc)[*len] = 0;
}

static void engine_case(const char *dir) {
    char *case_path = path_of(dir, "case.json"), *input_path = path_of(dir, "input.jsonl");
    size_t case_len = 0, input_len = 0;
    char *case_json = read_file(case_path, &case_len);
    char *input = read_file(input_path, &input_len);
    sp_engine *eng = NULL;
    sp_error *err = NULL;
    if (case_json == NULL || input == NULL) goto out;
    const char *cfg = strstr(case_json, "\"config\":");
    const char *flush_at = strstr(case_json, "\"flushAt\":");
    if (cfg == NULL || flush_at == NULL) {
        fail(case_path, "no config or flushAt");
        goto out;
    }
    cfg = strchr(cfg, '{');
    const char *cfg_end = value_end(cfg);
    sp_config *config = NULL;
    if (!check_rc(sp_config_from_json((const uint8_t *)cfg, (size_t)(cfg_end - cfg), &config, &err), err,
                  "config"))
        goto out;
    uint32_t rc = sp_engine_new(config, &eng, &err);
    sp_config_free(config);
    if (!check_rc(rc, err, "engine")) goto out;

    sp_buffer rejected = {0};
    if (!check_rc(sp_engine_apply_json_lines(eng, (const uint8_t *)input, input_len, 0, &rejected, &err), err,
                  "apply_json_lines"))
        goto out;
    expect(dir, "rejected.json", rejected.data, rejected.len);
    sp_buffer_free(&rejected);
    if (!check_rc(sp_engine_initial_sync_done(eng, 0, &err), err, "initial_sync_done")) goto out;

    char *writes = malloc(2);
    size_t writes_len = 1;
    if (writes == NULL) goto out;
    strcpy(writes, "[");
    const char *t = strchr(flush_at, '[') + 1;
    while (*t && *t != ']') {
        char *next = NULL;
        uint64_t now = strtoull(t, &next, 10);
        sp_buffer plan = {0};
        if (!check_rc(sp_engine_flush(eng, now, &plan, &err), err, "flush")) break;
        append_elements(&writes, &writes_len, (const char *)plan.data);
        uint64_t ids[256];
        int n = write_ids((const char *)plan.data, ids, 256);
        if (n < 0) fail(dir, "a write does not start with \"id\"");
        for (int i = 0; i < n; i++) {
            char outcome[160];
            snprintf(outcome, sizeof outcome,
                     "{\"outcome\":\"success\",\"resourceVersion\":\"rv-%" PRIu64 "\",\"uid\":\"uid-%" PRIu64 "\"}",
                     ids[i], ids[i]);
            check_rc(sp_engine_report(eng, ids[i], (const uint8_t *)outcome, strlen(outcome), now, &err), err,
                     "report");
        }
        sp_buffer_free(&plan);
        t = next;
        while (*t == ',' || *t == ' ' || *t == '\n') t++;
    }
    writes[writes_len++] = ']';
    expect(dir, "writes.json", (const uint8_t *)writes, writes_len);
    free(writes);

    sp_snapshot *snap = NULL;
    if (check_rc(sp_engine_publish(eng, &snap, &err), err, "publish")) {
        sp_buffer b = {0};
        if (check_rc(sp_snapshot_endpoints_json(snap, NULL, 0, &b, &err), err, "endpoints"))
            expect(dir, "endpoints.json", b.data, b.len);
        sp_buffer_free(&b);
        if (check_rc(sp_snapshot_slices_json(snap, NULL, 0, &b, &err), err, "slices"))
            expect(dir, "slices.json", b.data, b.len);
        sp_buffer_free(&b);
        sp_snapshot_free(snap);
    }
out:
    sp_engine_free(eng);
    free(case_json);
    free(input);
    free(case_path);
    free(input_path);
}

static void consumer_case(const char *dir) {
    char *case_path = path_of(dir, "case.json"), *input_path = path_of(dir, "input.jsonl");
    size_t case_len = 0, input_len = 0;
    char *case_json = read_file(case_path, &case_len);
    char *input = read_file(input_path, &input_len);
    sp_consumer *c = NULL;
    sp_error *err = NULL;
    if (case_json == NULL || input == NULL) goto out;
    const char *now = strstr(case_json, "\"now\":");
    if (now == NULL) {
        fail(case_path, "no now");
        goto out;
    }
    if (!check_rc(sp_consumer_new(0, &c, &err), err, "consumer")) goto out;
    if (!check_rc(sp_consumer_set_now(c, strtoull(now + 6, NULL, 10), &err), err, "set_now")) goto out;
    sp_buffer changes = {0}, rejected = {0};
    if (check_rc(sp_consumer_apply_json_lines(c, (const uint8_t *)input, input_len, &changes, &rejected, &err),
                 err, "apply_json_lines")) {
        expect(dir, "changes.json", changes.data, changes.len);
        expect(dir, "rejected.json", rejected.data, rejected.len);
    }
    sp_buffer_free(&changes);
    sp_buffer_free(&rejected);
    sp_snapshot *snap = NULL;
    if (check_rc(sp_consumer_publish(c, &snap, &err), err, "publish")) {
        sp_buffer b = {0};
        if (check_rc(sp_snapshot_endpoints_json(snap, NULL, 0, &b, &err), err, "endpoints"))
            expect(dir, "endpoints.json", b.data, b.len);
        sp_buffer_free(&b);
        if (check_rc(sp_snapshot_slices_json(snap, NULL, 0, &b, &err), err, "slices"))
            expect(dir, "slices.json", b.data, b.len);
        sp_buffer_free(&b);
        sp_snapshot_free(snap);
    }
out:
    sp_consumer_free(c);
    free(case_json);
    free(input);
    free(case_path);
    free(input_path);
}

static void policy_case(const char *dir) {
    char *cp = path_of(dir, "cluster.json"), *pp = path_of(dir, "policies.json"), *qp = path_of(dir, "probes.jsonl");
    size_t cl = 0, pl = 0, ql = 0;
    char *cluster = read_file(cp, &cl), *policies = read_file(pp, &pl), *probes = read_file(qp, &ql);
    sp_policy_cluster *pc = NULL;
    sp_error *err = NULL;
    if (cluster && policies && probes &&
        check_rc(sp_policy_cluster_new((const uint8_t *)cluster, cl, (const uint8_t *)policies, pl, &pc, &err), err,
                 "policy cluster")) {
        sp_buffer answers = {0};
        if (check_rc(sp_policy_cluster_eval(pc, (const uint8_t *)probes, ql, &answers, &err), err, "eval"))
            expect(dir, "answers.json", answers.data, answers.len);
        sp_buffer_free(&answers);
    }
    sp_policy_cluster_free(pc);
    free(cluster);
    free(policies);
    free(probes);
    free(cp);
    free(pp);
    free(qp);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs `run` on every case directory under root/kind, sorted by name. */
static void run_cases(const char *root, const char *kind, void (*run)(const char *)) {
    char *dir = path_of(root, kind);
    DIR *d = dir ? opendir(dir) : NULL;
    if (d == NULL) {
        fail(kind, "no cases");
        free(dir);
        return;
    }
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < 256) {
        if (e->d_name[0] == '.') continue;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) fail(kind, "no cases");
    qsort(names, (size_t)n, sizeof names[0], by_name);
    for (int i = 0; i < n; i++) {
        char *case_dir = path_of(dir, names[i]);
        if (case_dir != NULL) run(case_dir);
        free(case_dir);
        free(names[i]);
    }
    free(dir);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s <tests/conformance>\n", argv[0]);
        return 2;
    }
    run_cases(argv[1], "engine", engine_case);
    run_cases(argv[1], "consumer", consumer_case);
    run_cases(argv[1], "policy", policy_case);
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}
