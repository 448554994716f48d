/*
 * C tests of the sliceplane ABI. Built by bindings-c/test.sh with
 *   gcc -std=c11 -Wall -Wextra -Werror -I include ... -lsliceplane -lpthread -ldl -lm
 * and run plainly, under valgrind and with -fsanitize=address,undefined.
 * Prints "N passed, N failed"; exits non-zero on any failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sliceplane.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (cond) {                                                                 \
            passed++;                                                               \
        } else {                                                                    \
            failed++;                                                               \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                           \
    } while (0)

#define S(lit) (const uint8_t *)(lit), strlen(lit)

static const char *CONFIG_YAML = "source: pods\nseed: 1\nwrite:\n  syncDelayMs: 0\n";

static const char *NAMESPACE =
    "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Namespace\","
    "\"metadata\":{\"name\":\"default\",\"labels\":{\"kubernetes.io/metadata.name\":\"default\"}}}}";

/* A pod event; `buf` must hold 512 bytes. */
static const char *pod(char *buf, const char *type, int i, const char *app) {
    snprintf(buf, 512,
             "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
             "\"metadata\":{\"name\":\"web-%d\",\"namespace\":\"default\",\"labels\":{\"app\":\"%s\"}},"
             "\"spec\":{\"nodeName\":\"node-1\",\"containers\":[]},"
             "\"status\":{\"phase\":\"Running\",\"podIP\":\"10.0.%d.%d\",\"podIPs\":[{\"ip\":\"10.0.%d.%d\"}]}}}",
             type, i, app, (i / 250) % 250, i % 250 + 1, (i / 250) % 250, i % 250 + 1);
    return buf;
}

static int count_substr(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* Finds the op ids in a flush buffer: each op is an object whose first
 * key (keys come sorted) is "id". Returns how many were read. */
static int op_ids(const sp_buffer *b, uint64_t *ids, int max) {
    int n = 0;
    const char *p = (const char *)b->data;
    while (n < max && (p = strstr(p, "{\"id\":")) != NULL) {
        p += 6;
        ids[n++] = strtoull(p, NULL, 10);
    }
    return n;
}

static sp_engine *new_engine(void) {
    sp_config *cfg = NULL;
    sp_engine *eng = NULL;
    CHECK(sp_config_from_yaml(S(CONFIG_YAML), &cfg, NULL) == SP_OK);
    CHECK(sp_engine_new(cfg, &eng, NULL) == SP_OK);
    sp_config_free(cfg);
    return eng;
}

static void test_version(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", SLICEPLANE_VERSION_MAJOR, SLICEPLANE_VERSION_MINOR,
             SLICEPLANE_VERSION_PATCH);
    CHECK(strcmp(sp_version(), want) == 0);
    CHECK(strcmp(sp_result_name(SP_OK), "ok") == 0);
    CHECK(strcmp(sp_result_name(SP_INVALID_IP), "invalid_ip") == 0);
    CHECK(strcmp(sp_result_name(SP_PANIC), "panic") == 0);
    CHECK(strcmp(sp_result_name(12345), "unknown") == 0);
}

static void test_lifecycle(void) {
    sp_config *def = NULL;
    CHECK(sp_config_new_default(&def, NULL) == SP_OK && def != NULL);
    sp_buffer cj = {0};
    CHECK(sp_config_to_json(def, &cj, NULL) == SP_OK);
    CHECK(cj.data != NULL && strstr((const char *)cj.data, "\"source\"") != NULL);
    CHECK(cj.data[cj.len] == 0);
    sp_buffer_free(&cj);
    CHECK(cj.data == NULL && cj.len == 0);
    sp_buffer_free(&cj); /* idempotent */
    sp_config_free(def);

    sp_engine *eng = new_engine();
    sp_error *err = NULL;
    char buf[512];
    CHECK(sp_engine_apply_json(eng, S(NAMESPACE), 1, &err) == SP_OK && err == NULL);
    CHECK(sp_engine_apply_json(eng, S(pod(buf, "ADDED", 1, "web")), 1, &err) == SP_OK);
    CHECK(sp_engine_apply_json(eng, S(pod(buf, "ADDED", 2, "web")), 1, &err) == SP_OK);

    /* Before the initial sync nothing is planned. */
    sp_buffer plan = {0};
    CHECK(sp_engine_flush(eng, 2, &plan, &err) == SP_OK);
    CHECK(strcmp((const char *)plan.data, "[]") == 0);
    sp_buffer_free(&plan);

    CHECK(sp_engine_initial_sync_done(eng, 10, &err) == SP_OK);
    bool has = false;
    uint64_t due = 0;
    CHECK(sp_engine_next_due(eng, &has, &due, &err) == SP_OK);
    CHECK(has);

    CHECK(sp_engine_flush(eng, 10000, &plan, &err) == SP_OK);
    const char *p = (const char *)plan.data;
    CHECK(count_substr(p, "\"op\":\"create\"") == 2);
    CHECK(strstr(p, "\"kind\":\"CiliumIdentity\"") != NULL);
    CHECK(strstr(p, "\"kind\":\"CiliumEndpointSlice\"") != NULL);
    CHECK(strstr(p, "\"name\":") != NULL && strstr(p, "\"object\":{") != NULL);
    uint64_t ids[16];
    int n = op_ids(&plan, ids, 16);
    CHECK(n == 2);
    sp_buffer_free(&plan);

    sp_buffer stats = {0};
    CHECK(sp_engine_stats(eng, &stats, &err) == SP_OK);
    CHECK(strstr((const char *)stats.data, "\"endpoints\":2") != NULL);
    CHECK(strstr((const char *)stats.data, "\"inFlight\":2") != NULL);
    sp_buffer_free(&stats);

    for (int i = 0; i < n; i++) {
        char outcome[128];
        snprintf(outcome, sizeof outcome,
                 "{\"outcome\":\"success\",\"resourceVersion\":\"%d\",\"uid\":\"u-%d\"}", 100 + i, i);
        CHECK(sp_engine_report(eng, ids[i], S(outcome), 10001, &err) == SP_OK);
    }
    CHECK(sp_engine_flush(eng, 20000, &plan, &err) == SP_OK);
    CHECK(strcmp((const char *)plan.data, "[]") == 0);
    sp_buffer_free(&plan);

    sp_buffer slices = {0}, idents = {0}, events = {0};
    CHECK(sp_engine_desired_slices(eng, &slices, &err) == SP_OK);
    CHECK(count_substr((const char *)slices.data, "\"kind\":\"CiliumEndpointSlice\"") == 1);
    CHECK(sp_engine_desired_identities(eng, &idents, &err) == SP_OK);
    CHECK(count_substr((const char *)idents.data, "\"kind\":\"CiliumIdentity\"") == 1);
    CHECK(sp_engine_drain_events(eng, &events, &err) == SP_OK);
    CHECK(events.data[0] == '[');
    sp_buffer_free(&slices);
    sp_buffer_free(&idents);
    sp_buffer_free(&events);
    CHECK(sp_engine_drain_events(eng, &events, &err) == SP_OK);
    CHECK(strcmp((const char *)events.data, "[]") == 0);
    sp_buffer_free(&events);

    CHECK(err == NULL);
    sp_engine_free(eng);
    sp_engine_free(NULL);
    sp_config_free(NULL);
    sp_error_free(NULL);
    sp_buffer_free(NULL);
}

static void expect_error(uint32_t rc, sp_error *err, uint32_t number, const char *code) {
    CHECK(rc == number);
    CHECK(err != NULL);
    if (err == NULL) return;
    CHECK(sp_error_number(err) == number);
    CHECK(strcmp(sp_error_code(err), code) == 0);
    CHECK(strlen(sp_error_message(err)) > 0);
    CHECK(sp_error_object(err) != NULL && sp_error_field(err) != NULL);
    sp_error_free(err);
}

static void test_errors(void) {
    sp_error *err = NULL;
    sp_config *cfg = NULL;

    /* Bad config: unknown field, bad value, bad YAML. */
    uint32_t rc = sp_config_from_yaml(S("nosuchfield: 1\n"), &cfg, &err);
    CHECK(cfg == NULL);
    expect_error(rc, err, SP_INVALID_CONFIG, "invalid_config");
    err = NULL;
    rc = sp_config_from_json(S("{\"source\": \"pods\""), &cfg, &err);
    expect_error(rc, err, SP_INVALID_CONFIG, "invalid_config");
    err = NULL;

    /* NULL arguments. */
    rc = sp_config_from_yaml(NULL, 5, &cfg, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    rc = sp_config_from_yaml(S("seed: 1"), NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    CHECK(sp_config_from_yaml(NULL, 0, &cfg, &err) == SP_OK); /* empty = default */
    sp_config_free(cfg);
    cfg = NULL;
    sp_engine *eng = NULL;
    rc = sp_engine_new(NULL, &eng, &err);
    CHECK(eng == NULL);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    rc = sp_engine_apply_json(NULL, S(NAMESPACE), 1, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    sp_buffer b = {0};
    rc = sp_engine_stats(NULL, &b, &err);
    CHECK(b.data == NULL);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    /* A NULL err is allowed: only the code comes back. */
    CHECK(sp_engine_flush(NULL, 0, &b, NULL) == SP_NULL_ARGUMENT);

    eng = new_engine();
    rc = sp_engine_flush(eng, 0, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;

    /* Bad JSON, unknown kind, bad event type, bad IP. */
    rc = sp_engine_apply_json(eng, S("{not json"), 1, &err);
    expect_error(rc, err, SP_MALFORMED_INPUT, "malformed_input");
    err = NULL;
    rc = sp_engine_apply_json(
        eng, S("{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"x\"}}}"),
        1, &err);
    expect_error(rc, err, SP_UNKNOWN_KIND, "unknown_kind");
    err = NULL;
    char buf[512];
    rc = sp_engine_apply_json(eng, S(pod(buf, "BOOKMARKED", 1, "web")), 1, &err);
    expect_error(rc, err, SP_UNKNOWN_EVENT_TYPE, "unknown_event_type");
    err = NULL;
    const char *bad_ip =
        "{\"type\":\"ADDED\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
        "\"metadata\":{\"name\":\"p\",\"namespace\":\"default\"},\"spec\":{\"nodeName\":\"n\"},"
        "\"status\":{\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"999.1.1.1\"}]}}}";
    rc = sp_engine_apply_json(eng, S(bad_ip), 1, &err);
    CHECK(rc == SP_INVALID_IP);
    if (err != NULL) {
        CHECK(strcmp(sp_error_object(err), "Pod default/p") == 0);
        CHECK(strcmp(sp_error_field(err), "status.podIPs[0].ip") == 0);
    }
    expect_error(rc, err, SP_INVALID_IP, "invalid_ip");
    err = NULL;

    /* Invalid UTF-8. */
    const uint8_t bad_utf8[] = {'{', '"', 0xff, 0xfe, '"', '}'};
    rc = sp_engine_apply_json(eng, bad_utf8, sizeof bad_utf8, 1, &err);
    expect_error(rc, err, SP_MALFORMED_INPUT, "malformed_input"); /* an event: as in a batch */
    err = NULL;
    rc = sp_config_from_yaml(bad_utf8, sizeof bad_utf8, &cfg, &err);
    expect_error(rc, err, SP_INVALID_UTF8, "invalid_utf8");
    err = NULL;

    /* Unknown op id, bad outcome. */
    rc = sp_engine_report(eng, 424242, S("{\"outcome\":\"success\"}"), 1, &err);
    expect_error(rc, err, SP_UNKNOWN_OP, "unknown_op");
    err = NULL;
    rc = sp_engine_report(eng, 1, S("{\"outcome\":\"maybe\"}"), 1, &err);
    expect_error(rc, err, SP_MALFORMED_INPUT, "malformed_input");
    err = NULL;

    /* Rejected events changed nothing. */
    CHECK(sp_engine_stats(eng, &b, &err) == SP_OK);
    CHECK(strstr((const char *)b.data, "\"endpoints\":0") != NULL);
    sp_buffer_free(&b);
    sp_engine_free(eng);
}

static void test_bulk(void) {
    sp_engine *eng = new_engine();
    /* namespace, 3 good pods, a bad line, a blank line, invalid UTF-8, one more pod. */
    size_t cap = 8192, len = 0;
    char *lines = malloc(cap);
    char buf[512];
    len += (size_t)snprintf(lines + len, cap - len, "%s\n", NAMESPACE);
    for (int i = 0; i < 3; i++) len += (size_t)snprintf(lines + len, cap - len, "%s\n", pod(buf, "ADDED", i, "web"));
    len += (size_t)snprintf(lines + len, cap - len, "{oops\n\n   \n");
    lines[len++] = '\xff';
    lines[len++] = '\n';
    len += (size_t)snprintf(lines + len, cap - len, "%s", pod(buf, "ADDED", 9, "db"));
    sp_buffer rej = {0};
    sp_error *err = NULL;
    CHECK(sp_engine_apply_json_lines(eng, (const uint8_t *)lines, len, 5, &rej, &err) == SP_OK);
    const char *r = (const char *)rej.data;
    CHECK(count_substr(r, "\"index\":") == 2);
    CHECK(strstr(r, "\"index\":4") != NULL && strstr(r, "\"code\":\"malformed_input\"") != NULL);
    /* Not UTF-8 is malformed_input in a batch, in every binding. */
    CHECK(strstr(r, "\"index\":5,\"line\":8,\"code\":\"malformed_input\",\"number\":101") != NULL);
    CHECK(strstr(r, "\"index\":4,\"line\":5,\"code\":\"malformed_input\",\"number\":101") != NULL);
    sp_buffer_free(&rej);

    sp_buffer stats = {0};
    CHECK(sp_engine_stats(eng, &stats, &err) == SP_OK);
    CHECK(strstr((const char *)stats.data, "\"endpoints\":4") != NULL);
    sp_buffer_free(&stats);

    /* Empty input: nothing rejected. NULL output: an error. */
    CHECK(sp_engine_apply_json_lines(eng, NULL, 0, 6, &rej, &err) == SP_OK);
    CHECK(strcmp((const char *)rej.data, "[]") == 0);
    sp_buffer_free(&rej);
    uint32_t rc = sp_engine_apply_json_lines(eng, (const uint8_t *)lines, len, 6, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    free(lines);
    sp_engine_free(eng);
}

struct shared {
    pthread_mutex_t mu;
    sp_engine *eng;
    int done;
    int reads;
    int read_errors;
};

static void *reader(void *arg) {
    struct shared *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int done = s->done;
        sp_buffer b = {0};
        bool has;
        uint64_t due;
        if (sp_engine_stats(s->eng, &b, NULL) != SP_OK) s->read_errors++;
        sp_buffer_free(&b);
        if (sp_engine_desired_slices(s->eng, &b, NULL) != SP_OK) s->read_errors++;
        sp_buffer_free(&b);
        if (sp_engine_next_due(s->eng, &has, &due, NULL) != SP_OK) s->read_errors++;
        s->reads++;
        pthread_mutex_unlock(&s->mu);
        if (done) break;
    }
    return NULL;
}

static void test_reader_thread(void) {
    struct shared s = {.eng = new_engine()};
    pthread_mutex_init(&s.mu, NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader, &s) == 0);
    char buf[512];
    int bad = 0;
    pthread_mutex_lock(&s.mu);
    if (sp_engine_apply_json(s.eng, S(NAMESPACE), 1, NULL) != SP_OK) bad++;
    if (sp_engine_initial_sync_done(s.eng, 1, NULL) != SP_OK) bad++;
    pthread_mutex_unlock(&s.mu);
    for (int i = 0; i < 200; i++) {
        pthread_mutex_lock(&s.mu);
        if (sp_engine_apply_json(s.eng, S(pod(buf, "ADDED", i, i % 2 ? "a" : "b")), (uint64_t)i + 2, NULL) != SP_OK)
            bad++;
        if (i % 50 == 49) {
            sp_buffer plan = {0};
            if (sp_engine_flush(s.eng, (uint64_t)i + 2, &plan, NULL) != SP_OK) bad++;
            sp_buffer_free(&plan);
        }
        pthread_mutex_unlock(&s.mu);
    }
    pthread_mutex_lock(&s.mu);
    s.done = 1;
    pthread_mutex_unlock(&s.mu);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(bad == 0);
    CHECK(s.read_errors == 0);
    CHECK(s.reads > 0);
    pthread_mutex_destroy(&s.mu);
    sp_engine_free(s.eng);
}

/* ---------------------------------------------------------------- snapshots */

/* Copies the string value of "key" found after `from` into out; returns a
 * pointer past it, or NULL. */
static const char *json_str(const char *from, const char *key, char *out, size_t n) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(from, pat);
    if (p == NULL) return NULL;
    p += strlen(pat);
    size_t i = 0;
    while (*p && *p != '"' && i + 1 < n) out[i++] = *p++;
    out[i] = 0;
    return p;
}

static long long json_num(const char *from, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(from, pat);
    return p == NULL ? -1 : strtoll(p + strlen(pat), NULL, 10);
}

/* An engine holding namespace default and pods web-0..n-1 (app a/b), synced. */
static sp_engine *engine_with_pods(int n) {
    sp_engine *eng = new_engine();
    char buf[512];
    CHECK(sp_engine_apply_json(eng, S(NAMESPACE), 1, NULL) == SP_OK);
    for (int i = 0; i < n; i++)
        CHECK(sp_engine_apply_json(eng, S(pod(buf, "ADDED", i, i % 2 ? "a" : "b")), 1, NULL) == SP_OK);
    CHECK(sp_engine_initial_sync_done(eng, 2, NULL) == SP_OK);
    return eng;
}

static void test_snapshot(void) {
    sp_engine *eng = engine_with_pods(3);
    sp_error *err = NULL;
    sp_snapshot *snap = NULL;
    CHECK(sp_engine_publish(eng, &snap, &err) == SP_OK && snap != NULL && err == NULL);
    CHECK(sp_snapshot_version(snap) >= 1);
    CHECK(sp_snapshot_version(NULL) == 0);

    /* pod 1 is web-1 at 10.0.0.2 */
    bool found = false;
    sp_buffer b = {0};
    CHECK(sp_snapshot_lookup_ip(snap, S("10.0.0.2"), &found, &b, &err) == SP_OK && found);
    const char *p = (const char *)b.data;
    CHECK(p != NULL && strstr(p, "\"name\":\"web-1\"") && strstr(p, "\"namespace\":\"default\""));
    CHECK(strstr(p, "\"ips\":[\"10.0.0.2\"]") && strstr(p, "\"slice\":\"") && strstr(p, "\"encryptionKey\":0"));
    CHECK(strstr(p, "\"nodeIp\":") != NULL);
    long long ident = json_num(p, "identity");
    CHECK(ident > 0);
    sp_buffer_free(&b);

    uint32_t id = 0;
    found = false;
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.0.0.2"), &id, &found, &err) == SP_OK);
    CHECK(found && (long long)id == ident);
    const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2};
    id = 0;
    CHECK(sp_snapshot_identity_of_ip(snap, mapped, &id, &found, &err) == SP_OK && found && (long long)id == ident);

    /* Unknown IP: success, not found, buffer zeroed. */
    b.data = (uint8_t *)1; /* must be overwritten */
    CHECK(sp_snapshot_lookup_ip(snap, S("10.9.9.9"), &found, &b, &err) == SP_OK && !found);
    CHECK(b.data == NULL && b.len == 0);
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("fd00::9"), &id, &found, &err) == SP_OK && !found && id == 0);
    const uint8_t v6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9};
    CHECK(sp_snapshot_identity_of_ip(snap, v6, &id, &found, &err) == SP_OK && !found);

    /* Errors: outputs untouched. */
    id = 77;
    found = true;
    uint32_t rc = sp_snapshot_identity_of_ip_str(snap, S("10.0.0.256"), &id, &found, &err);
    expect_error(rc, err, SP_INVALID_IP, "invalid_ip");
    CHECK(id == 77 && found);
    rc = sp_snapshot_lookup_ip(snap, S("not an ip"), &found, &b, &err);
    expect_error(rc, err, SP_INVALID_IP, "invalid_ip");
    rc = sp_snapshot_lookup_ip(snap, (const uint8_t *)"\xff\xfe", 2, &found, &b, &err);
    expect_error(rc, err, SP_INVALID_UTF8, "invalid_utf8");
    rc = sp_snapshot_identity_of_ip(NULL, mapped, &id, &found, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_snapshot_identity_of_ip(snap, NULL, &id, &found, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_snapshot_identity_of_ip(snap, mapped, NULL, &found, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_snapshot_lookup_ip(snap, S("10.0.0.2"), &found, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    CHECK(sp_snapshot_lookup_ip(snap, S("10.0.0.2"), NULL, &b, NULL) == SP_NULL_ARGUMENT);
    CHECK(b.data == NULL);

    /* Endpoint by name. */
    CHECK(sp_snapshot_endpoint(snap, S("default"), S("web-2"), &found, &b, &err) == SP_OK && found);
    CHECK(strstr((const char *)b.data, "\"ips\":[\"10.0.0.3\"]") != NULL);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_endpoint(snap, S("default"), S("nope"), &found, &b, &err) == SP_OK && !found && b.data == NULL);
    rc = sp_snapshot_endpoint(snap, NULL, 3, S("web-2"), &found, &b, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* Slices, endpoints, counts, identity labels. */
    CHECK(sp_snapshot_slices_json(snap, NULL, 0, &b, &err) == SP_OK);
    CHECK(strstr((const char *)b.data, "\"namespace\":\"default\"") && strstr((const char *)b.data, "\"web-0\""));
    sp_buffer_free(&b);
    CHECK(sp_snapshot_slices_json(snap, S("default"), &b, &err) == SP_OK && strstr((const char *)b.data, "\"web-1\""));
    sp_buffer_free(&b);
    CHECK(sp_snapshot_slices_json(snap, S("other"), &b, &err) == SP_OK && strcmp((const char *)b.data, "[]") == 0);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_endpoints_json(snap, NULL, 0, &b, &err) == SP_OK);
    CHECK(count_substr((const char *)b.data, "\"namespace\":\"default\"") == 3);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_counts_json(snap, &b, &err) == SP_OK);
    p = (const char *)b.data;
    CHECK(json_num(p, "endpoints") == 3 && json_num(p, "ips") == 3 && json_num(p, "identities") == 2);
    CHECK(strstr(p, "\"fragmentation\":{") && strstr(p, "\"ratio\":") && json_num(p, "ideal") == 1);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_identity_labels(snap, (uint32_t)ident, &found, &b, &err) == SP_OK && found);
    CHECK(strstr((const char *)b.data, "app") != NULL);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_identity_labels(snap, 4000000, &found, &b, &err) == SP_OK && !found && b.data == NULL);
    rc = sp_snapshot_counts_json(NULL, &b, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* Reader. */
    sp_snapshot_reader *rd = NULL;
    CHECK(sp_engine_snapshot_reader(eng, &rd, &err) == SP_OK && rd != NULL);
    CHECK(sp_snapshot_reader_version(rd) == sp_snapshot_version(snap));
    CHECK(sp_snapshot_reader_version(NULL) == 0);
    CHECK(sp_snapshot_reader_identity_of_ip(rd, mapped, &id, &found, &err) == SP_OK && found && (long long)id == ident);
    rc = sp_snapshot_reader_identity_of_ip(rd, NULL, &id, &found, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    sp_snapshot *s2 = NULL;
    rc = sp_snapshot_reader_load(NULL, &s2, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    CHECK(s2 == NULL);
    rc = sp_engine_snapshot_reader(NULL, &rd, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_engine_publish(eng, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* A delete, published: the old snapshot is unchanged, the reader sees the new one. */
    char buf[512];
    CHECK(sp_engine_apply_json(eng, S(pod(buf, "DELETED", 1, "a")), 3, NULL) == SP_OK);
    CHECK(sp_engine_publish(eng, &s2, &err) == SP_OK);
    CHECK(sp_snapshot_version(s2) == sp_snapshot_version(snap) + 1);
    CHECK(sp_snapshot_reader_version(rd) == sp_snapshot_version(s2));
    CHECK(sp_snapshot_identity_of_ip_str(s2, S("10.0.0.2"), &id, &found, NULL) == SP_OK && !found);
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.0.0.2"), &id, &found, NULL) == SP_OK && found);
    sp_snapshot_free(s2);
    s2 = NULL;

    /* Engine: metrics, health, counters, resync, observe. */
    CHECK(sp_engine_metrics(eng, &b, &err) == SP_OK);
    CHECK(strstr((const char *)b.data, "cilium_operator_") != NULL && strstr((const char *)b.data, "# TYPE") != NULL);
    sp_buffer_free(&b);
    CHECK(sp_engine_health(eng, &b, &err) == SP_OK && strcmp((const char *)b.data, "{\"state\":\"healthy\"}") == 0);
    sp_buffer_free(&b);
    CHECK(sp_engine_counters(eng, &b, &err) == SP_OK && json_num((const char *)b.data, "eventsApplied") == 5);
    sp_buffer_free(&b);
    CHECK(sp_engine_resync(eng, 4, &err) == SP_OK);
    CHECK(sp_engine_observe_apply_seconds(eng, 0.002, &err) == SP_OK);
    rc = sp_engine_observe_apply_seconds(eng, -1.0, &err);
    expect_error(rc, err, SP_INVALID_VALUE, "invalid_value");
    rc = sp_engine_metrics(NULL, &b, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_engine_health(eng, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_engine_resync(NULL, 1, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* Snapshots and readers outlive the engine. */
    sp_engine_free(eng);
    CHECK(sp_snapshot_reader_load(rd, &s2, &err) == SP_OK && s2 != NULL);
    CHECK(sp_snapshot_endpoint(s2, S("default"), S("web-0"), &found, &b, &err) == SP_OK && found);
    sp_buffer_free(&b);
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.0.0.1"), &id, &found, NULL) == SP_OK && found);
    sp_snapshot_free(s2);
    sp_snapshot_reader_free(rd);
    sp_snapshot_free(snap);
    sp_snapshot_free(NULL);
    sp_snapshot_reader_free(NULL);
}

/* ---------------------------------------------------------------- consumer */

static const char *ces(char *buf, size_t n, const char *type, const char *name, const char *eps) {
    snprintf(buf, n,
             "{\"type\":\"%s\",\"object\":{\"apiVersion\":\"cilium.io/v2alpha1\",\"kind\":\"CiliumEndpointSlice\","
             "\"metadata\":{\"name\":\"%s\"},\"namespace\":\"web\",\"endpoints\":[%s]}}",
             type, name, eps);
    return buf;
}

#define EP(name, id, ip) \
    "{\"name\":\"" name "\",\"id\":" #id ",\"networking\":{\"addressing\":[{\"ipv4\":\"" ip "\"}],\"node\":\"192.168.1.1\"},\"encryption\":{\"key\":3}}"

static void test_consumer(void) {
    sp_consumer *c = NULL;
    sp_error *err = NULL;
    CHECK(sp_consumer_new(0, &c, &err) == SP_OK && c != NULL);
    CHECK(sp_consumer_set_now(c, 5, &err) == SP_OK);
    char buf[1024];
    sp_buffer ch = {0};
    CHECK(sp_consumer_apply_json(c, S(ces(buf, sizeof buf, "ADDED", "ces-1", EP("p1", 5000, "10.1.0.1") "," EP("p2", 5001, "10.1.0.2"))), &ch, &err) == SP_OK);
    const char *p = (const char *)ch.data;
    CHECK(count_substr(p, "\"op\":\"upsert\"") == 2 && count_substr(p, "\"old\":null") == 2);
    CHECK(strstr(p, "\"nodeIp\":\"192.168.1.1\"") && strstr(p, "\"encryptionKey\":3") && strstr(p, "\"identity\":5000"));
    sp_buffer_free(&ch);

    /* A rejected event changes nothing; outputs untouched. */
    uint32_t rc = sp_consumer_apply_json(c, S("{\"type\":\"ADDED\",\"object\":"), &ch, &err);
    expect_error(rc, err, SP_MALFORMED_INPUT, "malformed_input");
    CHECK(ch.data == NULL);
    rc = sp_consumer_apply_json(c, S("{}"), NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_consumer_apply_json(NULL, S("{}"), &ch, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* Bulk: p2 changes identity, p1 deleted, one bad line. */
    char lines[4096];
    char e1[1024], e2[1024];
    snprintf(lines, sizeof lines, "%s\n\nnot json\n%s\n",
             ces(e1, sizeof e1, "MODIFIED", "ces-1", EP("p2", 5002, "10.1.0.2")),
             ces(e2, sizeof e2, "ADDED", "ces-2", EP("p3", 5003, "10.1.0.3")));
    sp_buffer rej = {0};
    CHECK(sp_consumer_apply_json_lines(c, (const uint8_t *)lines, strlen(lines), &ch, &rej, &err) == SP_OK);
    p = (const char *)ch.data;
    CHECK(count_substr(p, "\"op\":\"delete\"") == 1 && count_substr(p, "\"op\":\"upsert\"") == 2);
    CHECK(strstr(p, "\"index\":0") && strstr(p, "\"index\":2") && !strstr(p, "\"index\":1"));
    CHECK(strstr((const char *)rej.data, "\"index\":1") && strstr((const char *)rej.data, "malformed_input"));
    sp_buffer_free(&ch);
    sp_buffer_free(&rej);
    rc = sp_consumer_apply_json_lines(c, (const uint8_t *)lines, strlen(lines), &ch, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");

    /* Publish, reader, counters, events. */
    sp_snapshot *snap = NULL;
    CHECK(sp_consumer_publish(c, &snap, &err) == SP_OK && sp_snapshot_version(snap) == 1);
    uint32_t id = 0;
    bool found = false;
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.1.0.2"), &id, &found, &err) == SP_OK && found && id == 5002);
    CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.1.0.1"), &id, &found, &err) == SP_OK && !found);
    sp_snapshot_reader *rd = NULL;
    CHECK(sp_consumer_snapshot_reader(c, &rd, &err) == SP_OK);
    const uint8_t ip3[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 3};
    CHECK(sp_snapshot_reader_identity_of_ip(rd, ip3, &id, &found, &err) == SP_OK && found && id == 5003);
    sp_buffer b = {0};
    CHECK(sp_consumer_counters(c, &b, &err) == SP_OK);
    p = (const char *)b.data;
    CHECK(json_num(p, "eventsApplied") == 3 && json_num(p, "eventsRejected") == 2 && json_num(p, "endpoints") == 2);
    CHECK(json_num(p, "deletes") == 1 && json_num(p, "ipCacheSize") == 2);
    sp_buffer_free(&b);
    CHECK(sp_consumer_drain_events(c, &b, &err) == SP_OK && b.data[0] == '[');
    sp_buffer_free(&b);
    rc = sp_consumer_counters(NULL, &b, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_consumer_publish(c, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_consumer_new(0, NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    sp_consumer_free(c);
    CHECK(sp_snapshot_reader_version(rd) == 1);
    sp_snapshot_reader_free(rd);
    sp_snapshot_free(snap);
    sp_consumer_free(NULL);
}

/* The shared-IP release option: web-1 and web-2 claim 10.1.0.2; web-2 (the
 * newer claim) owns it; when web-2's slice goes, "handover" gives the entry
 * back to web-1 and "cilium" removes it, as Cilium's agent does. */
static void test_consumer_shared_ip_release(void) {
    const char *releases[] = {"handover", "cilium", NULL};
    const bool owner_after[] = {true, false, true};
    for (int i = 0; i < 3; i++) {
        sp_consumer *c = NULL;
        sp_error *err = NULL;
        const char *r = releases[i];
        CHECK(sp_consumer_new_with_options(0, (const uint8_t *)r, r ? strlen(r) : 0, &c, &err) == SP_OK && c);
        char buf[1024];
        sp_buffer ch = {0};
        CHECK(sp_consumer_apply_json(c, S(ces(buf, sizeof buf, "ADDED", "ces-a", EP("web-1", 5000, "10.1.0.2"))), &ch, &err) == SP_OK);
        sp_buffer_free(&ch);
        CHECK(sp_consumer_apply_json(c, S(ces(buf, sizeof buf, "ADDED", "ces-b", EP("web-2", 5001, "10.1.0.2"))), &ch, &err) == SP_OK);
        sp_buffer_free(&ch);
        sp_snapshot *snap = NULL;
        uint32_t id = 0;
        bool found = false;
        CHECK(sp_consumer_publish(c, &snap, &err) == SP_OK);
        CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.1.0.2"), &id, &found, &err) == SP_OK && found && id == 5001);
        sp_snapshot_free(snap);
        CHECK(sp_consumer_apply_json(c, S(ces(buf, sizeof buf, "DELETED", "ces-b", "")), &ch, &err) == SP_OK);
        sp_buffer_free(&ch);
        CHECK(sp_consumer_publish(c, &snap, &err) == SP_OK);
        CHECK(sp_snapshot_identity_of_ip_str(snap, S("10.1.0.2"), &id, &found, &err) == SP_OK);
        CHECK(found == owner_after[i] && (!found || id == 5000));
        sp_snapshot_free(snap);
        sp_consumer_free(c);
    }
    sp_consumer *c = NULL;
    sp_error *err = NULL;
    uint32_t rc = sp_consumer_new_with_options(0, S("sometimes"), &c, &err);
    CHECK(c == NULL);
    CHECK(err != NULL && strcmp(sp_error_field(err), "sharedIpRelease") == 0);
    expect_error(rc, err, SP_INVALID_VALUE, "invalid_value");
    rc = sp_consumer_new_with_options(0, NULL, 3, &c, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    rc = sp_consumer_new_with_options(0, S("cilium"), NULL, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
}

/* ------------------------------------------- snapshot reader thread (no mutex) */

struct snap_shared {
    sp_snapshot_reader *reader;
    volatile int done; /* written once by the main thread; read with the atomics below */
    int loads;
    int checked;
    int errors;
};

/* Every endpoint of `snap` is what its IPs map back to. Returns the number of failures. */
static int check_snapshot(const sp_snapshot *snap, int *checked) {
    int bad = 0;
    sp_buffer b = {0};
    if (sp_snapshot_endpoints_json(snap, NULL, 0, &b, NULL) != SP_OK) return 1;
    const char *p = (const char *)b.data;
    while ((p = strstr(p, "{\"namespace\":")) != NULL) {
        char name[64], ip[64];
        long long ident = json_num(p, "identity");
        const char *ips = strstr(p, "\"ips\":[\"");
        if (ips == NULL || json_str(p, "name", name, sizeof name) == NULL) {
            bad++;
            break;
        }
        ips += strlen("\"ips\":[\"");
        size_t i = 0;
        while (*ips && *ips != '"' && i + 1 < sizeof ip) ip[i++] = *ips++;
        ip[i] = 0;
        bool found = false;
        uint32_t id = 0;
        sp_buffer e = {0};
        if (sp_snapshot_lookup_ip(snap, (const uint8_t *)ip, strlen(ip), &found, &e, NULL) != SP_OK || !found)
            bad++;
        else {
            char got[64];
            if (json_str((const char *)e.data, "name", got, sizeof got) == NULL || strcmp(got, name) != 0) bad++;
            if (json_num((const char *)e.data, "identity") != ident) bad++;
        }
        sp_buffer_free(&e);
        if (sp_snapshot_identity_of_ip_str(snap, (const uint8_t *)ip, strlen(ip), &id, &found, NULL) != SP_OK ||
            !found || (long long)id != ident)
            bad++;
        (*checked)++;
        p++;
    }
    sp_buffer_free(&b);
    return bad;
}

static void *snapshot_reader_thread(void *arg) {
    struct snap_shared *s = arg;
    uint64_t last = 0;
    for (;;) {
        int done = __atomic_load_n(&s->done, __ATOMIC_ACQUIRE);
        sp_snapshot *snap = NULL;
        if (sp_snapshot_reader_load(s->reader, &snap, NULL) != SP_OK) {
            s->errors++;
            break;
        }
        uint64_t v = sp_snapshot_version(snap);
        if (v < last) s->errors++;
        last = v;
        if (sp_snapshot_reader_version(s->reader) < v) s->errors++;
        s->errors += check_snapshot(snap, &s->checked);
        sp_snapshot_free(snap);
        s->loads++;
        if (done) break;
    }
    return NULL;
}

static void test_snapshot_reader_thread(void) {
    sp_engine *eng = engine_with_pods(0);
    struct snap_shared s = {0};
    CHECK(sp_engine_snapshot_reader(eng, &s.reader, NULL) == SP_OK);
    sp_snapshot *first = NULL;
    CHECK(sp_engine_publish(eng, &first, NULL) == SP_OK);
    sp_snapshot_free(first);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, snapshot_reader_thread, &s) == 0);
    char buf[512];
    int bad = 0;
    uint64_t now = 3;
    const char *apps[] = {"a", "b", "c"};
    for (int i = 0; i < 240; i++, now++) {
        /* churn: add, relabel (identity change), delete */
        if (sp_engine_apply_json(eng, S(pod(buf, "ADDED", i, apps[i % 3])), now, NULL) != SP_OK) bad++;
        if (i >= 10 && sp_engine_apply_json(eng, S(pod(buf, "MODIFIED", i - 10, apps[(i + 1) % 3])), now, NULL) != SP_OK) bad++;
        if (i >= 20 && i % 3 == 0 && sp_engine_apply_json(eng, S(pod(buf, "DELETED", i - 20, "a")), now, NULL) != SP_OK) bad++;
        if (i % 8 == 7) {
            sp_snapshot *snap = NULL;
            if (sp_engine_publish(eng, &snap, NULL) != SP_OK) bad++;
            sp_snapshot_free(snap);
        }
        if (i % 40 == 39) {
            sp_buffer plan = {0};
            if (sp_engine_flush(eng, now, &plan, NULL) != SP_OK) bad++;
            sp_buffer_free(&plan);
        }
    }
    sp_snapshot *last = NULL;
    CHECK(sp_engine_publish(eng, &last, NULL) == SP_OK);
    __atomic_store_n(&s.done, 1, __ATOMIC_RELEASE);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(bad == 0);
    CHECK(s.errors == 0);
    CHECK(s.loads > 0 && s.checked > 0);
    int checked = 0;
    CHECK(check_snapshot(last, &checked) == 0 && checked > 100);
    sp_snapshot_free(last);
    sp_snapshot_reader_free(s.reader);
    sp_engine_free(eng);
}

static void test_policy(void) {
    const char *cluster =
        "[{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"default\"}},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
        "\"labels\":{\"app\":\"web\"}},\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.0.0.1\"}},"
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"client\",\"namespace\":\"default\","
        "\"labels\":{\"app\":\"client\"}},\"spec\":{\"nodeName\":\"n1\"},\"status\":{\"podIP\":\"10.0.0.2\"}}]";
    const char *policies =
        "[{\"apiVersion\":\"networking.k8s.io/v1\",\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"deny\","
        "\"namespace\":\"default\"},\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}},"
        "\"policyTypes\":[\"Ingress\"]}}]";
    sp_policy_cluster *pc = NULL;
    sp_error *err = NULL;
    uint32_t rc = sp_policy_cluster_new(S(cluster), S(policies), &pc, &err);
    CHECK(rc == SP_OK && pc != NULL);
    if (rc != SP_OK) {
        fprintf(stderr, "policy: %s\n", sp_error_message(err));
        sp_error_free(err);
        return;
    }
    sp_buffer v = {0};
    CHECK(sp_policy_cluster_probe(pc, S("{\"from\":\"default/client\",\"to\":\"default/web\",\"port\":80}"), &v,
                                  &err) == SP_OK);
    CHECK(v.data != NULL && strstr((const char *)v.data, "\"verdict\":\"deny\"") != NULL);
    sp_buffer_free(&v);
    CHECK(sp_policy_cluster_probe(pc, S("{\"from\":\"default/web\",\"to\":\"default/client\",\"port\":80}"), &v,
                                  &err) == SP_OK);
    CHECK(v.data != NULL && strstr((const char *)v.data, "\"verdict\":\"allow\"") != NULL);
    sp_buffer_free(&v);
    rc = sp_policy_cluster_probe(pc, S("{\"from\":\"default/nope\",\"to\":\"default/web\",\"port\":80}"), &v, &err);
    expect_error(rc, err, SP_INVALID_PROBE, "invalid_probe");
    err = NULL;
    /* Peers are sorted: client (row 0), web (row 1). */
    CHECK(sp_policy_cluster_matrix(pc, S("{\"port\":80}"), &v, &err) == SP_OK);
    CHECK(v.data != NULL && strstr((const char *)v.data, "\"cells\":[[\"allow\",\"deny\"],[\"allow\",\"allow\"]]") != NULL);
    CHECK(v.data != NULL && strstr((const char *)v.data, "\"truthTable\":") != NULL);
    sp_buffer_free(&v);
    rc = sp_policy_cluster_matrix(pc, S("{\"port\":80,\"protocol\":\"ICMP\"}"), &v, &err);
    expect_error(rc, err, SP_INVALID_PROBE, "invalid_probe");
    err = NULL;
    rc = sp_policy_cluster_matrix(NULL, S("{\"port\":80}"), &v, &err);
    expect_error(rc, err, SP_NULL_ARGUMENT, "null_argument");
    err = NULL;
    sp_policy_cluster_free(pc);
    pc = NULL;
    rc = sp_policy_cluster_new(S(cluster), S("[{\"kind\":\"NetworkPolicy\"}]"), &pc, &err);
    CHECK(pc == NULL);
    CHECK(rc != SP_OK && err != NULL);
    sp_error_free(err);
}

/* sp_engine_flush_at_most: no more slice writes than asked for; the rest
 * stay dirty for the next call. */
static void test_flush_at_most(void) {
    sp_engine *eng = new_engine();
    sp_error *err = NULL;
    char buf[512];
    CHECK(sp_engine_apply_json(eng, S(NAMESPACE), 1, &err) == SP_OK);
    CHECK(sp_engine_apply_json(eng, S(pod(buf, "ADDED", 1, "web")), 1, &err) == SP_OK);
    CHECK(sp_engine_initial_sync_done(eng, 10, &err) == SP_OK);
    sp_buffer plan = {0};
    CHECK(sp_engine_flush_at_most(eng, 10000, 0, &plan, &err) == SP_OK);
    CHECK(strstr((const char *)plan.data, "\"kind\":\"CiliumIdentity\"") != NULL);
    CHECK(strstr((const char *)plan.data, "\"kind\":\"CiliumEndpointSlice\"") == NULL);
    sp_buffer_free(&plan);
    CHECK(sp_engine_flush_at_most(eng, 10000, 1, &plan, &err) == SP_OK);
    CHECK(count_substr((const char *)plan.data, "\"op\":\"create\"") == 1);
    CHECK(strstr((const char *)plan.data, "\"kind\":\"CiliumEndpointSlice\"") != NULL);
    sp_buffer_free(&plan);
    CHECK(sp_engine_flush_at_most(NULL, 10000, 1, &plan, &err) != SP_OK && err != NULL);
    sp_error_free(err);
    sp_engine_free(eng);
}

int main(void) {
    test_version();
    test_lifecycle();
    test_flush_at_most();
    test_errors();
    test_bulk();
    test_reader_thread();
    test_snapshot();
    test_consumer();
    test_consumer_shared_ip_release();
    test_snapshot_reader_thread();
    test_policy();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
