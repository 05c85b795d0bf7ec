/*
 * barcheck conformance agent: the /init of the guest's initramfs.
 *
 * It mounts the pseudo file systems, loads the vfio modules listed in
 * /modules.order, reads the plan in /plan, binds the scenario's devices to
 * vfio-pci, runs the plan's steps and prints one "BC ..." line per
 * observation on the console.  Then it powers the guest off.
 *
 * Plan lines (written by barcheck/conform/plan.py, packed by assets.py):
 *   dev NAME PATH          a scenario device; PATH is slot.fn hops from the root
 *                          bus, e.g. 05.0/01.0 (device 01.0 behind bridge 00:05.0)
 *   bridge NAME PATH       a scenario bridge
 *   step N open NAME       VFIO_GROUP_GET_DEVICE_FD, then REGION_INFO of BAR0-5
 *   step N close NAME
 *   step N mmap NAME BAR   mmap of the whole region, kept until munmap
 *   step N munmap NAME BAR
 *   step N reset NAME      VFIO_DEVICE_RESET
 *   step N hotadd NAME     asks the host for device_add, waits for its answer
 *                          on the console, then rescans until the device shows
 *
 * Output lines (parsed by barcheck/conform/observe.py):
 *   BC hello kernel=R arch=M page_size=P
 *   BC module NAME rc=E
 *   BC dev NAME bdf=B group=G driver=D       then  BC res NAME I START END FLAGS
 *   BC bridge NAME bdf=B                     then  BC res NAME I START END FLAGS
 *   BC iomem LINE                            the boot /proc/iomem, verbatim
 *   BC bind NAME driver=D                    and BC unbind BDF driver=D for group mates
 *   BC ready                                 boot report done, steps follow
 *   BC step N begin EVENT NAME [BAR]
 *   BC hotplug-request NAME                  the host answers "BCACK NAME ok|error" on the console
 *   BC region NAME BAR size=S flags=F mmap=0|1
 *   BC outcome N ok | BC outcome N fail ERRNO-TEXT
 *   BC reserved FIRST LAST                   every "vfio sub-page reserved" after step N
 *   BC step N end
 *   BC fatal TEXT                            the run cannot go on
 *   BC done
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <linux/vfio.h>

#define MAX_DEVS 64
#define MAX_GROUPS 64
#define MAX_LINE 512
#define SYSPCI "/sys/bus/pci/devices"

struct dev {
	char name[64];
	char path[64];
	char bdf[32];
	int fd;
	int bridge;
	unsigned long long region_offset[6];
	unsigned long long region_size[6];
	void *map[6];
};

struct group {
	int number;
	int container;
	int fd;
};

static struct dev devs[MAX_DEVS];
static int ndevs;
static struct group groups[MAX_GROUPS];
static int ngroups;

static void say(const char *fmt, ...)
{
	va_list ap;
	fputs("BC ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static void power_off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	_exit(0);
}

static void fatal(const char *what)
{
	say("fatal %s: %s", what, strerror(errno));
	power_off();
}

static void nap_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, text, strlen(text));
	int err = n < 0 ? -errno : 0;
	close(fd);
	return err;
}

static void link_base(const char *path, char *out, size_t len)
{
	char target[256];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(out, len, "none");
		return;
	}
	target[n] = 0;
	const char *slash = strrchr(target, '/');
	snprintf(out, len, "%s", slash ? slash + 1 : target);
}

/* The child of sysfs directory DIR whose name ends in ":HOP" (e.g. ":01.0"). */
static int find_child(const char *dir, const char *hop, char *out, size_t len)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:%s", hop);
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d))) {
		if (!fnmatch(pattern, e->d_name, 0)) {
			snprintf(out, len, "%s", e->d_name);
			found = 1;
			break;
		}
	}
	closedir(d);
	return found;
}

/* PATH "05.0/01.0" -> "0000:01:01.0", or 0 when the device is not there. */
static int resolve_into(const char *path, char *bdf, size_t len)
{
	char copy[64], dir[512];
	snprintf(copy, sizeof(copy), "%s", path);
	char *save = NULL, *hop = strtok_r(copy, "/", &save);
	if (!hop)
		return 0;
	snprintf(bdf, len, "0000:00:%s", hop);
	snprintf(dir, sizeof(dir), SYSPCI "/%s", bdf);
	if (access(dir, F_OK))
		return 0;
	while ((hop = strtok_r(NULL, "/", &save))) {
		if (!find_child(dir, hop, bdf, len))
			return 0;
		size_t used = strlen(dir);
		snprintf(dir + used, sizeof(dir) - used, "/%s", bdf);
	}
	return 1;
}

static int resolve(const char *path, char *bdf, size_t len)
{
	char found[32];
	if (!resolve_into(path, found, sizeof(found)))
		return 0;
	snprintf(bdf, len, "%s", found);
	return 1;
}

static void print_resources(const struct dev *d)
{
	char path[256], line[MAX_LINE];
	snprintf(path, sizeof(path), SYSPCI "/%s/resource", d->bdf);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	for (int i = 0; fgets(line, sizeof(line), f); i++) {
		unsigned long long start, end, flags;
		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) == 3 && flags)
			say("res %s %d 0x%llx 0x%llx 0x%llx", d->name, i, start, end, flags);
	}
	fclose(f);
}

static int group_number(const char *bdf)
{
	char path[256], base[64];
	snprintf(path, sizeof(path), SYSPCI "/%s/iommu_group", bdf);
	link_base(path, base, sizeof(base));
	return strcmp(base, "none") ? atoi(base) : -1;
}

static void describe(struct dev *d)
{
	char path[256], driver[64];
	if (d->bridge) {
		say("bridge %s bdf=%s", d->name, d->bdf);
	} else {
		snprintf(path, sizeof(path), SYSPCI "/%s/driver", d->bdf);
		link_base(path, driver, sizeof(driver));
		say("dev %s bdf=%s group=%d driver=%s", d->name, d->bdf, group_number(d->bdf), driver);
	}
	print_resources(d);
}

static void dump_iomem(void)
{
	char line[MAX_LINE];
	FILE *f = fopen("/proc/iomem", "r");
	if (!f)
		fatal("open /proc/iomem");
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		say("iomem %s", line);
	}
	fclose(f);
}

static void print_reserved(void)
{
	char line[MAX_LINE];
	FILE *f = fopen("/proc/iomem", "r");
	if (!f)
		fatal("open /proc/iomem");
	while (fgets(line, sizeof(line), f)) {
		unsigned long long first, last;
		if (strstr(line, ": vfio sub-page reserved") && sscanf(line, " %llx-%llx", &first, &last) == 2)
			say("reserved 0x%llx 0x%llx", first, last);
	}
	fclose(f);
}

static void current_driver(const char *bdf, char *out, size_t len)
{
	char path[256];
	snprintf(path, sizeof(path), SYSPCI "/%s/driver", bdf);
	link_base(path, out, len);
}

static void unbind(const char *bdf)
{
	char path[256];
	snprintf(path, sizeof(path), SYSPCI "/%s/driver/unbind", bdf);
	write_file(path, bdf);
}

/* vfio needs every other device of the group bound to vfio-pci or to no driver. */
static void free_group_mates(const char *bdf)
{
	char path[256], driver[64];
	snprintf(path, sizeof(path), SYSPCI "/%s/iommu_group/devices", bdf);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, bdf))
			continue;
		current_driver(e->d_name, driver, sizeof(driver));
		if (strcmp(driver, "none") && strcmp(driver, "vfio-pci") && strcmp(driver, "pcieport")) {
			say("unbind %s driver=%s", e->d_name, driver);
			unbind(e->d_name);
		}
	}
	closedir(d);
}

static void bind_vfio(struct dev *d)
{
	char path[256], driver[64];
	current_driver(d->bdf, driver, sizeof(driver));
	if (!strcmp(driver, "vfio-pci"))
		return;
	if (strcmp(driver, "none"))
		unbind(d->bdf);
	snprintf(path, sizeof(path), SYSPCI "/%s/driver_override", d->bdf);
	write_file(path, "vfio-pci");
	write_file("/sys/bus/pci/drivers_probe", d->bdf);
	free_group_mates(d->bdf);
	current_driver(d->bdf, driver, sizeof(driver));
	say("bind %s driver=%s", d->name, driver);
}

static struct group *group_for(const char *bdf)
{
	int number = group_number(bdf);
	for (int i = 0; i < ngroups; i++)
		if (groups[i].number == number)
			return &groups[i];
	if (number < 0 || ngroups == MAX_GROUPS)
		return NULL;
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%d", number);
	int fd = open(path, O_RDWR);
	if (fd < 0)
		return NULL;
	int container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0 || ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container)) {
		close(fd);
		return NULL;
	}
	static const int backends[] = { VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU, VFIO_SPAPR_TCE_v2_IOMMU,
					VFIO_SPAPR_TCE_IOMMU, VFIO_NOIOMMU_IOMMU };
	int chosen = -1;
	for (unsigned k = 0; k < sizeof(backends) / sizeof(backends[0]) && chosen < 0; k++)
		if (ioctl(container, VFIO_CHECK_EXTENSION, backends[k]) > 0)
			chosen = backends[k];
	if (ioctl(container, VFIO_SET_IOMMU, chosen)) {
		close(fd);
		close(container);
		return NULL;
	}
	groups[ngroups] = (struct group){ number, container, fd };
	return &groups[ngroups++];
}

static struct dev *find_dev(const char *name)
{
	for (int i = 0; i < ndevs; i++)
		if (!strcmp(devs[i].name, name))
			return &devs[i];
	return NULL;
}

static int do_open(struct dev *d)
{
	if (!resolve(d->path, d->bdf, sizeof(d->bdf)))
		return -ENODEV;
	bind_vfio(d);
	errno = 0;
	struct group *g = group_for(d->bdf);
	if (!g)
		return errno ? -errno : -EINVAL;
	int fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (fd < 0)
		return -errno;
	d->fd = fd;
	for (unsigned i = VFIO_PCI_BAR0_REGION_INDEX; i <= VFIO_PCI_BAR5_REGION_INDEX; i++) {
		struct vfio_region_info info = { .argsz = sizeof(info), .index = i };
		if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &info) || !info.size)
			continue;
		d->region_offset[i] = info.offset;
		d->region_size[i] = info.size;
		say("region %s %u size=0x%llx flags=0x%x mmap=%d", d->name, i, (unsigned long long)info.size,
		    info.flags, !!(info.flags & VFIO_REGION_INFO_FLAG_MMAP));
	}
	return 0;
}

static int do_close(struct dev *d)
{
	if (d->fd < 0)
		return -EBADF;
	close(d->fd);
	d->fd = -1;
	return 0;
}

static int do_mmap(struct dev *d, int bar)
{
	if (d->fd < 0 || bar < 0 || bar > 5 || !d->region_size[bar])
		return -EINVAL;
	void *p = mmap(NULL, d->region_size[bar], PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		       (off_t)d->region_offset[bar]);
	if (p == MAP_FAILED)
		return -errno;
	d->map[bar] = p;
	return 0;
}

static int do_munmap(struct dev *d, int bar)
{
	if (bar < 0 || bar > 5 || !d->map[bar])
		return -EINVAL;
	int rc = munmap(d->map[bar], d->region_size[bar]) ? -errno : 0;
	d->map[bar] = NULL;
	return rc;
}

static int do_reset(struct dev *d)
{
	if (d->fd < 0)
		return -EBADF;
	return ioctl(d->fd, VFIO_DEVICE_RESET) ? -errno : 0;
}

/* One line from the host on the console: "BCACK NAME ok" or "BCACK NAME error". */
static int wait_for_host(const char *name)
{
	char line[MAX_LINE];
	size_t used = 0;
	for (;;) {
		char c;
		ssize_t n = read(0, &c, 1);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -EIO;
		}
		if (c == '\r')
			continue;
		if (c != '\n') {
			if (used < sizeof(line) - 1)
				line[used++] = c;
			continue;
		}
		line[used] = 0;
		used = 0;
		char tag[16], who[64], verdict[16];
		if (sscanf(line, "%15s %63s %15s", tag, who, verdict) == 3 && !strcmp(tag, "BCACK") &&
		    !strcmp(who, name))
			return strcmp(verdict, "ok") ? -EIO : 0;
	}
}

static int do_hotadd(struct dev *d)
{
	say("hotplug-request %s", d->name);
	int rc = wait_for_host(d->name);
	if (rc)
		return rc;
	for (int tries = 0; tries < 150; tries++) {
		write_file("/sys/bus/pci/rescan", "1");
		if (resolve(d->path, d->bdf, sizeof(d->bdf))) {
			describe(d);
			return 0;
		}
		nap_ms(100);
	}
	return -ENODEV;
}

static int run_step(char *event, struct dev *d, int bar)
{
	if (!strcmp(event, "open"))
		return do_open(d);
	if (!strcmp(event, "close"))
		return do_close(d);
	if (!strcmp(event, "mmap"))
		return do_mmap(d, bar);
	if (!strcmp(event, "munmap"))
		return do_munmap(d, bar);
	if (!strcmp(event, "reset"))
		return do_reset(d);
	if (!strcmp(event, "hotadd"))
		return do_hotadd(d);
	return -ENOSYS;
}

static void console_raw(void)
{
	struct termios t;
	if (tcgetattr(0, &t))
		return;
	t.c_lflag &= ~(ICANON | ECHO);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	tcsetattr(0, TCSANOW, &t);
}

static void setup(void)
{
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/dev", 0755);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	console_raw();
	struct utsname u;
	uname(&u);
	say("hello kernel=%s arch=%s page_size=%ld", u.release, u.machine, sysconf(_SC_PAGESIZE));
}

static void load_modules(void)
{
	char name[128], path[256];
	FILE *f = fopen("/modules.order", "r");
	if (!f)
		return;
	while (fscanf(f, "%127s", name) == 1) {
		snprintf(path, sizeof(path), "/lib/modules/%s.ko", name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		int rc = fd < 0 ? -errno : (syscall(SYS_finit_module, fd, "", 0) ? -errno : 0);
		if (rc == -EEXIST)
			rc = 0;
		say("module %s rc=%d", name, rc);
		if (fd >= 0)
			close(fd);
	}
	fclose(f);
}

static void read_declarations(FILE *plan)
{
	char line[MAX_LINE], kind[16], name[64], path[64];
	while (fgets(line, sizeof(line), plan)) {
		if (sscanf(line, "%15s %63s %63s", kind, name, path) != 3)
			continue;
		int bridge = !strcmp(kind, "bridge");
		if ((!bridge && strcmp(kind, "dev")) || ndevs == MAX_DEVS)
			continue;
		struct dev *d = &devs[ndevs++];
		memset(d, 0, sizeof(*d));
		snprintf(d->name, sizeof(d->name), "%s", name);
		snprintf(d->path, sizeof(d->path), "%s", path);
		d->fd = -1;
		d->bridge = bridge;
	}
	rewind(plan);
}

static void boot_report(void)
{
	for (int i = 0; i < ndevs; i++)
		if (resolve(devs[i].path, devs[i].bdf, sizeof(devs[i].bdf)))
			describe(&devs[i]);
	dump_iomem();
	for (int i = 0; i < ndevs; i++)
		if (!devs[i].bridge && devs[i].bdf[0])
			bind_vfio(&devs[i]);
}

static void run_plan(FILE *plan)
{
	char line[MAX_LINE], kind[16], event[16], name[64];
	int number, bar;
	while (fgets(line, sizeof(line), plan)) {
		bar = -1;
		int fields = sscanf(line, "%15s %d %15s %63s %d", kind, &number, event, name, &bar);
		if (fields < 4 || strcmp(kind, "step"))
			continue;
		struct dev *d = find_dev(name);
		if (bar >= 0)
			say("step %d begin %s %s %d", number, event, name, bar);
		else
			say("step %d begin %s %s", number, event, name);
		int rc = d ? run_step(event, d, bar) : -ENOENT;
		if (rc)
			say("outcome %d fail %s", number, strerror(-rc));
		else
			say("outcome %d ok", number);
		print_reserved();
		say("step %d end", number);
	}
}

int main(void)
{
	setup();
	load_modules();
	FILE *plan = fopen("/plan", "r");
	if (!plan)
		fatal("open /plan");
	read_declarations(plan);
	boot_report();
	say("ready");
	run_plan(plan);
	fclose(plan);
	say("done");
	power_off();
	return 0;
}
