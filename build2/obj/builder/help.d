build2/obj/builder/help.o: builder/help.c builder/builder.h \
 builder/../images/images.h builder/../images/../rootfs/rootfs.h
builder/builder.h:
builder/../images/images.h:
builder/../images/../rootfs/rootfs.h:
