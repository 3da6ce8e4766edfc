build2/asan/obj/rootfs/gzip.o: rootfs/gzip.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
