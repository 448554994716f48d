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
    expect_error(rc, err, SP_INVALID_UTF8, "invalid_utf8");
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
    CHECK(strstr(r, "\"index\":5") != NULL && strstr(r, "\"code\":\"invalid_utf8\"") != NULL);
    CHECK(strstr(r, "\"number\":101") != NULL);
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
    sp_policy_cluster_free(pc);
    pc = NULL;
    rc = sp_policy_cluster_new(S(cluster), S("[{\"kind\":\"NetworkPolicy\"}]"), &pc, &err);
    CHECK(pc == NULL);
    CHECK(rc != SP_OK && err != NULL);
    sp_error_free(err);
}

int main(void) {
    test_version();
    test_lifecycle();
    test_errors();
    test_bulk();
    test_reader_thread();
    test_policy();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
