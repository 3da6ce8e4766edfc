build2/asan/obj/rootfs/cache.o: rootfs/cache.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
