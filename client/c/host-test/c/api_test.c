/*
 * Host tests of the memserver C API, compiled against the generated memserver.h. Each
 * capi_test_* function returns the number of failed checks and prints every failure on stderr.
 * The Rust side installs a client of an in-process server before calling them (except for
 * capi_test_not_connected).
 */
#include <memserver.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int failures;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			fprintf(stderr, "%s:%d: check failed: %s (last error %d: %s)\n", \
				__FILE__, __LINE__, #cond, memserver_last_error(),   \
				memserver_strerror(memserver_last_error()));         \
			failures++;                                                  \
		}                                                                    \
	} while (0)

/* Runs a test body and returns its failure count. */
#define TEST_BEGIN() failures = 0
#define TEST_END() return failures

struct node {
	uint64_t key;
	uint64_t value;
	uint64_t magic;
	char pad[40];
};

#define NODE_MAGIC 0x6e6f6465ULL

static unsigned long node_ctor_runs;

static void node_ctor(void *obj)
{
	struct node *n = obj;

	memset(n, 0, sizeof(*n));
	n->magic = NODE_MAGIC;
	node_ctor_runs++;
}

int capi_test_cache_lifecycle(void)
{
	enum { N = 300 }; /* several batches and more than one slab */
	static struct node *objs[N];
	struct kmem_cache *c;
	struct node *z;
	int i, distinct = 1;

	TEST_BEGIN();
	node_ctor_runs = 0;
	c = kmem_cache_create("capi_nodes", sizeof(struct node), 16, SLAB_HWCACHE_ALIGN, node_ctor);
	CHECK(c != NULL);
	if (!c)
		TEST_END();
	CHECK(kmem_cache_size(c) >= sizeof(struct node));
	for (i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(c, GFP_KERNEL);
		CHECK(objs[i] != NULL);
		if (!objs[i])
			TEST_END();
		CHECK(((uintptr_t)objs[i] & 15) == 0);
		CHECK(objs[i]->magic == NODE_MAGIC);
		objs[i]->key = (uint64_t)i;
	}
	/* Every handed-out object was constructed, each once per slab it came from. */
	CHECK(node_ctor_runs >= N);
	for (i = 1; i < N; i++)
		distinct &= objs[i] != objs[i - 1];
	CHECK(distinct);
	for (i = 0; i < N; i++)
		CHECK(objs[i]->key == (uint64_t)i);

	/* Destroy with live objects: refused with the code, the cache stays usable. */
	CHECK(kmem_cache_destroy(c) == -MEMSERVER_E_CACHE_BUSY);
	CHECK(memserver_last_error() == MEMSERVER_E_CACHE_BUSY);
	for (i = 0; i < N; i++)
		CHECK(kmem_cache_free(c, objs[i]) == 0);

	/* zalloc: zeroed, whatever was written before. */
	z = kmem_cache_alloc(c, GFP_KERNEL);
	CHECK(z != NULL);
	memset(z, 0xee, sizeof(*z));
	CHECK(kmem_cache_free(c, z) == 0);
	z = kmem_cache_zalloc(c, GFP_KERNEL);
	CHECK(z != NULL);
	if (z) {
		const unsigned char *b = (const unsigned char *)z;
		bool zero = true;
		for (size_t k = 0; k < sizeof(*z); k++)
			zero &= b[k] == 0;
		CHECK(zero);
		CHECK(kmem_cache_free(c, z) == 0);
	}
	z = kmem_cache_alloc(c, GFP_KERNEL | __GFP_ZERO);
	CHECK(z != NULL && z->magic == 0 && z->key == 0);
	CHECK(kmem_cache_free(c, z) == 0);

	CHECK(kmem_cache_shrink(c) >= 0);
	CHECK(kmem_cache_destroy(c) == 0);
	/* The handle block is not reused yet: a use after destroy is caught. */
	CHECK(kmem_cache_alloc(c, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_HANDLE);
	CHECK(kmem_cache_destroy(c) == -MEMSERVER_E_BAD_HANDLE);
	CHECK(kmem_cache_destroy(NULL) == 0);
	TEST_END();
}

int capi_test_bad_arguments(void)
{
	struct kmem_cache *c;
	char longest[33], too_long[34];

	TEST_BEGIN();
	CHECK(kmem_cache_create(NULL, 64, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_NULL_POINTER);
	CHECK(kmem_cache_create("with space", 64, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_NAME);
	CHECK(kmem_cache_create("", 64, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_NAME);
	memset(too_long, 'x', 33);
	too_long[33] = 0;
	CHECK(kmem_cache_create(too_long, 64, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_NAME);
	CHECK(kmem_cache_create("\xff\xfe", 64, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_NAME);
	CHECK(kmem_cache_create("zero", 0, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_SIZE_ZERO);
	CHECK(kmem_cache_create("flags", 64, 0, 0x40000, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_UNKNOWN_FLAG);
	CHECK(kmem_cache_create("align", 64, 3, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_BAD_ALIGN);

	/* The longest name (32 bytes) is accepted. */
	memset(longest, 'y', 32);
	longest[32] = 0;
	c = kmem_cache_create(longest, 64, 0, 0, NULL);
	CHECK(c != NULL);
	CHECK(kmem_cache_alloc(c, 0x1) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_UNKNOWN_FLAG);
	CHECK(kmem_cache_alloc(NULL, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_NULL_POINTER);
	CHECK(kmem_cache_free(c, NULL) == -MEMSERVER_E_NULL_POINTER);
	CHECK(kmem_cache_shrink(NULL) == -MEMSERVER_E_NULL_POINTER);
	CHECK(kmem_cache_size(NULL) == 0);
	CHECK(kmalloc(64, 0x2) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_UNKNOWN_FLAG);
	CHECK(memserver_stats(NULL) == -MEMSERVER_E_NULL_POINTER);
	CHECK(kmem_cache_destroy(c) == 0);
	TEST_END();
}

static const size_t classes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192 };

int capi_test_kmalloc(void)
{
	unsigned char *p, *big, *z;
	uint64_t *arr;
	int local;

	TEST_BEGIN();
	for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
		size_t size = classes[i];

		p = kmalloc(size, GFP_KERNEL);
		CHECK(p != NULL);
		if (!p)
			continue;
		CHECK(((uintptr_t)p & 7) == 0);
		CHECK(ksize(p) == size);
		memset(p, 0xa5, size);
		CHECK(p[size - 1] == 0xa5);
		CHECK(kfree(p) == 0);
		/* The server freed it: a second kfree is refused. */
		CHECK(kfree(p) == -MEMSERVER_E_DOUBLE_FREE);
	}
	/* One byte above a class takes the next one. */
	p = kmalloc(65, GFP_KERNEL);
	CHECK(p != NULL && ksize(p) == 96);
	CHECK(kfree(p) == 0);

	/* Beyond the classes: straight from the page allocator. */
	big = kmalloc(256 << 10, GFP_KERNEL);
	CHECK(big != NULL);
	if (big) {
		CHECK(ksize(big) >= (256 << 10));
		memset(big, 0x3c, 256 << 10);
		CHECK(big[(256 << 10) - 1] == 0x3c);
		CHECK(kfree(big + 64) == -MEMSERVER_E_INTERIOR_POINTER ||
		      kfree(big + 64) == -MEMSERVER_E_NOT_ALLOCATED);
		CHECK(kfree(big) == 0);
	}

	/* kzalloc of a block that held a pattern comes back zeroed. */
	p = kmalloc(200, GFP_KERNEL);
	CHECK(p != NULL);
	if (p)
		memset(p, 0xff, 200);
	CHECK(kfree(p) == 0);
	z = kzalloc(200, GFP_KERNEL);
	CHECK(z != NULL);
	if (z) {
		bool zero = true;
		for (size_t k = 0; k < ksize(z); k++)
			zero &= z[k] == 0;
		CHECK(zero);
		CHECK(kfree(z) == 0);
	}

	arr = kcalloc(1000, sizeof(uint64_t), GFP_KERNEL);
	CHECK(arr != NULL);
	if (arr) {
		bool zero = true;
		for (int k = 0; k < 1000; k++)
			zero &= arr[k] == 0;
		CHECK(zero);
		CHECK(ksize(arr) >= 8000);
		CHECK(kfree(arr) == 0);
	}
	CHECK(kcalloc(SIZE_MAX / 2, 3, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_SIZE_TOO_LARGE);
	/* Size 0 is ZERO_SIZE_PTR, as in Linux: not NULL, no block, no error. */
	struct memserver_stats z0, z1;
	CHECK(memserver_stats(&z0) == 0);
	void *zp = kmalloc(0, GFP_KERNEL);
	CHECK(zp == ZERO_SIZE_PTR);
	CHECK(ZERO_OR_NULL_PTR(zp) && ZERO_OR_NULL_PTR(NULL));
	CHECK(kzalloc(0, GFP_KERNEL) == ZERO_SIZE_PTR);
	CHECK(kcalloc(0, 8, GFP_KERNEL) == ZERO_SIZE_PTR);
	CHECK(ksize(zp) == 0);
	CHECK(kfree(zp) == 0);
	CHECK(kfree(zp) == 0);
	CHECK(memserver_stats(&z1) == 0);
	CHECK(z1.live_objects == z0.live_objects);
	CHECK(kmalloc((size_t)8 << 20, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_SIZE_TOO_LARGE);

	/* Addresses that are not kmalloc blocks of ours: refused, nothing changes. */
	CHECK(kfree(NULL) == 0);
	CHECK(ksize(NULL) == 0);
	CHECK(kfree(&local) == -MEMSERVER_E_NOT_ALLOCATED);
	CHECK(ksize(&local) == 0);
	CHECK(memserver_last_error() == MEMSERVER_E_NOT_ALLOCATED);
	TEST_END();
}

int capi_test_violations(void)
{
	struct kmem_cache *c;
	unsigned char *a, *b;
	struct memserver_violation v[4];
	struct memserver_stats st;
	uint64_t cursor = 0, lost = 7;

	TEST_BEGIN();
	c = kmem_cache_create("capi_poisoned", 64, 0, SLAB_POISON, NULL);
	CHECK(c != NULL);
	a = kmem_cache_alloc(c, GFP_KERNEL);
	CHECK(a != NULL);
	CHECK(kmem_cache_free(c, a) == 0);
	/* A write after free: the next allocation reports it and hands out another object. */
	((volatile unsigned char *)a)[5] = 1;
	b = kmem_cache_alloc(c, GFP_KERNEL);
	CHECK(b != NULL && b != a);
	CHECK(memserver_violations(&cursor, v, 4, &lost) == 1);
	CHECK(cursor == 1 && lost == 0);
	CHECK(v[0].seq == 0 && v[0].object == (uint64_t)(uintptr_t)a && v[0].offset == 5);
	CHECK(v[0].op == MEMSERVER_VIOLATION_ALLOC && v[0].kind == MEMSERVER_VIOLATION_POISON);
	CHECK(v[0].expected == 0x6b && v[0].found == 1);
	CHECK(strcmp(v[0].cache, "capi_poisoned") == 0);
	/* Read to the end. */
	CHECK(memserver_violations(&cursor, v, 4, NULL) == 0 && cursor == 1);
	CHECK(memserver_violations(NULL, v, 4, NULL) == -MEMSERVER_E_NULL_POINTER);
	CHECK(memserver_stats(&st) == 0 && st.violations == 1);
	CHECK(kmem_cache_free(c, b) == 0);
	/* The quarantined object is not live: the cache can be destroyed. */
	CHECK(kmem_cache_destroy(c) == 0);
	TEST_END();
}

int capi_test_slabinfo(void)
{
	struct kmem_cache *c;
	void *obj;
	char small[16], buf[4096];
	long total;

	TEST_BEGIN();
	c = kmem_cache_create("capi_slabinfo", 100, 0, 0, NULL);
	CHECK(c != NULL);
	obj = kmem_cache_alloc(c, GFP_KERNEL);
	CHECK(obj != NULL);

	total = memserver_slabinfo(NULL, 0, 0);
	CHECK(total > 0);
	memset(small, 'x', sizeof(small));
	CHECK(memserver_slabinfo(small, sizeof(small), 0) == total);
	CHECK(small[sizeof(small) - 1] == 0 && strlen(small) == sizeof(small) - 1);
	CHECK(memcmp(small, "slabinfo - vers", 15) == 0);
	CHECK(total < (long)sizeof(buf));
	CHECK(memserver_slabinfo(buf, sizeof(buf), 0) == total);
	CHECK((long)strlen(buf) == total);
	CHECK(strncmp(buf, "slabinfo - version: 2.1\n", 24) == 0);
	CHECK(strstr(buf, "\ncapi_slabinfo ") != NULL);
	/* The server-wide view holds at least this client's rows. */
	CHECK(memserver_slabinfo(NULL, 0, 1) >= total);

	CHECK(kmem_cache_free(c, obj) == 0);
	CHECK(kmem_cache_destroy(c) == 0);
	TEST_END();
}

static void *reentrant_result = (void *)1;
static int reentrant_error;

static void reentrant_ctor(void *obj)
{
	(void)obj;
	reentrant_result = kmalloc(32, GFP_KERNEL);
	reentrant_error = memserver_last_error();
}

int capi_test_reentrant_ctor(void)
{
	struct kmem_cache *c;
	void *obj;

	TEST_BEGIN();
	c = kmem_cache_create("capi_reentrant", 32, 0, 0, reentrant_ctor);
	CHECK(c != NULL);
	obj = kmem_cache_alloc(c, GFP_KERNEL);
	CHECK(obj != NULL);
	CHECK(reentrant_result == NULL);
	CHECK(reentrant_error == MEMSERVER_E_IN_USE);
	/* The API works again once the outer call returned. */
	CHECK(kmem_cache_free(c, obj) == 0);
	CHECK(kmem_cache_destroy(c) == 0);
	TEST_END();
}

#define CTOR(n)                                  \
	static unsigned ctor_runs_##n;           \
	static void ctor_##n(void *obj)          \
	{                                        \
		(void)obj;                       \
		ctor_runs_##n++;                 \
	}
CTOR(0) CTOR(1) CTOR(2) CTOR(3) CTOR(4) CTOR(5) CTOR(6) CTOR(7) CTOR(8)
CTOR(9) CTOR(10) CTOR(11) CTOR(12) CTOR(13) CTOR(14) CTOR(15) CTOR(16)

static kmem_ctor_t const ctors[MEMSERVER_MAX_CTORS + 1] = {
	ctor_0, ctor_1, ctor_2, ctor_3, ctor_4, ctor_5, ctor_6, ctor_7, ctor_8,
	ctor_9, ctor_10, ctor_11, ctor_12, ctor_13, ctor_14, ctor_15, ctor_16,
};

/* Needs a process whose constructor slots are all free (its own test binary). */
int capi_test_ctor_slots(void)
{
	struct kmem_cache *c[MEMSERVER_MAX_CTORS + 1];
	char name[16];

	TEST_BEGIN();
	for (int i = 0; i < MEMSERVER_MAX_CTORS; i++) {
		snprintf(name, sizeof(name), "slot_%d", i);
		c[i] = kmem_cache_create(name, 64, 0, 0, ctors[i]);
		CHECK(c[i] != NULL);
	}
	CHECK(kmem_cache_create("slot_extra", 64, 0, 0, ctors[MEMSERVER_MAX_CTORS]) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_TOO_MANY_CTORS);
	/* A constructor already in a slot shares it. */
	c[MEMSERVER_MAX_CTORS] = kmem_cache_create("slot_again", 64, 0, 0, ctors[3]);
	CHECK(c[MEMSERVER_MAX_CTORS] != NULL);
	/* Each cache runs its own constructor. */
	for (int i = 0; i <= MEMSERVER_MAX_CTORS; i++) {
		void *obj = kmem_cache_alloc(c[i], GFP_KERNEL);
		CHECK(obj != NULL);
		CHECK(kmem_cache_free(c[i], obj) == 0);
		CHECK(kmem_cache_destroy(c[i]) == 0);
	}
	CHECK(ctor_runs_0 > 0 && ctor_runs_15 > 0 && ctor_runs_16 == 0);
	CHECK(ctor_runs_3 >= 2 * ctor_runs_4 - ctor_runs_4 / 2);
	TEST_END();
}

int capi_test_not_connected(void)
{
	int local;

	TEST_BEGIN();
	CHECK(kmalloc(8, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_NOT_CONNECTED);
	CHECK(kmem_cache_create("nobody", 8, 0, 0, NULL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_NOT_CONNECTED);
	CHECK(kfree(&local) == -MEMSERVER_E_NOT_CONNECTED);
	CHECK(memserver_flush() == -MEMSERVER_E_NOT_CONNECTED);
	CHECK(memserver_slabinfo(NULL, 0, 0) == -MEMSERVER_E_NOT_CONNECTED);
	TEST_END();
}

int capi_test_errors(void)
{
	TEST_BEGIN();
	CHECK(strcmp(memserver_strerror(0), "success") == 0);
	CHECK(strcmp(memserver_strerror(MEMSERVER_E_DOUBLE_FREE), "double free") == 0);
	CHECK(strcmp(memserver_strerror(-MEMSERVER_E_DOUBLE_FREE), "double free") == 0);
	CHECK(strcmp(memserver_strerror(MEMSERVER_E_IN_USE), memserver_strerror(MEMSERVER_E_BAD_NAME)) != 0);
	CHECK(strcmp(memserver_strerror(12345), "unknown error") == 0);
	/* A success leaves the last error alone. */
	CHECK(kmalloc((size_t)8 << 20, GFP_KERNEL) == NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_SIZE_TOO_LARGE);
	void *p = kmalloc(8, GFP_KERNEL);
	CHECK(p != NULL);
	CHECK(memserver_last_error() == MEMSERVER_E_SIZE_TOO_LARGE);
	CHECK(kfree(p) == 0);
	TEST_END();
}

int64_t capi_live_objects_after_flush(void)
{
	struct memserver_stats s;

	if (memserver_flush() < 0 || memserver_stats(&s) < 0)
		return -1;
	return (int64_t)s.live_objects;
}
