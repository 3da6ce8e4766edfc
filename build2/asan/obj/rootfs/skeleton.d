build2/asan/obj/rootfs/skeleton.o: rootfs/skeleton.c rootfs/rootfs_priv.h \
 rootfs/rootfs.h
rootfs/rootfs_priv.h:
rootfs/rootfs.h:
