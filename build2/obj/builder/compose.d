build2/obj/builder/compose.o: builder/compose.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h \
 builder/../policies/policies.h builder/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
builder/../policies/policies.h:
builder/../rootfs/rootfs.h:
