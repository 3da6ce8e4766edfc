build2/obj/policies/policy_compile.o: policies/policy_compile.c \
 policies/policy_int.h policies/policies.h
policies/policy_int.h:
policies/policies.h:
