/*
 * hello-c: a memserver client in C. It creates a cache with a constructor, allocates and frees
 * through it, uses kmalloc/kzalloc/kcalloc/ksize/kfree, prints its slabinfo row, destroys the
 * cache and checks that everything went back to the server. Copy this folder to start your own.
 *
 * Freestanding: no C library. The memserver library provides the task's entry (it connects to
 * the server and then calls main), the kernel-shaped allocation calls (memserver.h) and a few
 * console calls.
 */
#include <memserver.h>

struct point {
	uint64_t x, y, z;
	uint64_t tag;
};

#define POINT_TAG 0x706f696e74ULL /* "point" */
#define POINTS 100

static unsigned long constructed;

/* Runs once for every object of a new slab, before any is handed out. */
static void point_ctor(void *obj)
{
	struct point *p = obj;

	p->x = p->y = p->z = 0;
	p->tag = POINT_TAG;
	constructed++;
}

static void say(const char *what, uint64_t value)
{
	memserver_print("hello-c: ");
	memserver_print(what);
	memserver_print_u64(value);
	memserver_print("\n");
}

/* Prints why a call failed and returns 1 (the exit status). */
static int failed(const char *call)
{
	int code = memserver_last_error();

	memserver_print("hello-c: ");
	memserver_print(call);
	memserver_print(" failed: ");
	memserver_print(memserver_strerror(code));
	memserver_print("\n");
	return 1;
}

static char slabinfo[4096];

int main(void)
{
	struct kmem_cache *points;
	struct point *p[POINTS];
	struct memserver_stats stats;
	uint64_t sum = 0;
	char *text;
	uint64_t *words;
	long len;
	int i, pages;

	memserver_print("hello-c: connected to the memory server\n");

	points = kmem_cache_create("hello_points", sizeof(struct point), 0,
				   SLAB_HWCACHE_ALIGN, point_ctor);
	if (!points)
		return failed("kmem_cache_create");
	say("cache hello_points, object size ", kmem_cache_size(points));

	for (i = 0; i < POINTS; i++) {
		p[i] = kmem_cache_alloc(points, GFP_KERNEL);
		if (!p[i])
			return failed("kmem_cache_alloc");
		if (p[i]->tag != POINT_TAG) {
			memserver_print("hello-c: an object was handed out unconstructed\n");
			return 1;
		}
		p[i]->x = i;
		sum += p[i]->x;
	}
	say("allocated points: ", POINTS);
	say("constructor runs: ", constructed);
	say("sum of x: ", sum);

	/* As snprintf: the whole length comes back, the text is cut to the buffer. */
	len = memserver_slabinfo(slabinfo, sizeof(slabinfo), 0);
	if (len < 0)
		return failed("memserver_slabinfo");
	memserver_print(slabinfo);
	if (len >= (long)sizeof(slabinfo))
		memserver_print("hello-c: (slabinfo cut)\n");

	for (i = 0; i < POINTS; i++) {
		/* Freed objects stay constructed: the next user finds the tag again. */
		if (kmem_cache_free(points, p[i]) < 0)
			return failed("kmem_cache_free");
	}
	pages = kmem_cache_shrink(points);
	if (pages < 0)
		return failed("kmem_cache_shrink");
	say("pages freed by shrink: ", (uint64_t)pages);
	if (kmem_cache_destroy(points) < 0)
		return failed("kmem_cache_destroy");
	memserver_print("hello-c: cache destroyed\n");

	text = kmalloc(100, GFP_KERNEL);
	if (!text)
		return failed("kmalloc");
	say("kmalloc(100): usable bytes ", ksize(text));
	words = kcalloc(512, sizeof(uint64_t), GFP_KERNEL);
	if (!words)
		return failed("kcalloc");
	for (i = 0; i < 512; i++)
		if (words[i] != 0) {
			memserver_print("hello-c: kcalloc memory is not zeroed\n");
			return 1;
		}
	say("kcalloc(512, 8): usable bytes ", ksize(words));
	if (kfree(text) < 0 || kfree(words) < 0)
		return failed("kfree");
	if (kfree(words) != -MEMSERVER_E_DOUBLE_FREE) {
		memserver_print("hello-c: a double free was not refused\n");
		return 1;
	}
	memserver_print("hello-c: a double free is refused: ");
	memserver_print(memserver_strerror(memserver_last_error()));
	memserver_print("\n");

	if (memserver_flush() < 0 || memserver_stats(&stats) < 0)
		return failed("memserver_stats");
	say("live objects at the end: ", stats.live_objects);
	if (stats.live_objects != 0)
		return 1;
	memserver_print("hello-c: done\n");
	return 0;
}
