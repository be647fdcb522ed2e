//! A typed wrapper over a cache: [`TypedCache<T>`] hands out [`Obj<T>`], an owned, initialised `T`
//! living in a server-provided object, and takes it back by value.
use crate::{Client, Failure, KmemCache, Transport};
use core::marker::PhantomData;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use memserver_protocol::Error;

pub struct TypedCache<T> {
    cache: KmemCache,
    _type: PhantomData<fn() -> T>,
}

/// A `T` in an object of a [`TypedCache<T>`]; give it back with [`TypedCache::free`] (dropping it
/// leaks the object, as `Box::leak` would).
pub struct Obj<T> {
    ptr: NonNull<T>,
}

impl<T> TypedCache<T> {
    /// A cache of objects sized and aligned for `T`.
    pub fn create<Tr: Transport>(client: &mut Client<Tr>, name: &str) -> Result<Self, Failure> {
        let cache = client.kmem_cache_create(
            name,
            core::mem::size_of::<T>(),
            core::mem::align_of::<T>(),
            0,
            None,
        )?;
        Ok(TypedCache {
            cache,
            _type: PhantomData,
        })
    }

    pub fn alloc<Tr: Transport>(
        &mut self,
        client: &mut Client<Tr>,
        value: T,
    ) -> Result<Obj<T>, Failure> {
        let addr = client.kmem_cache_alloc(&mut self.cache)?;
        let ptr = NonNull::new(addr as *mut T).ok_or(Failure::new(Error::Internal))?;
        if addr % core::mem::align_of::<T>() != 0 {
            return Err(Failure::with(Error::Internal, [addr as u64, 0, 0]));
        }
        // SAFETY: the server handed us this object: it is ours alone, at least `size_of::<T>()`
        // bytes and aligned for `T` (checked above).
        unsafe { ptr.as_ptr().write(value) };
        Ok(Obj { ptr })
    }

    /// Moves the value out and returns the object to the cache.
    pub fn free<Tr: Transport>(
        &mut self,
        client: &mut Client<Tr>,
        obj: Obj<T>,
    ) -> Result<T, Failure> {
        // SAFETY: `obj` owns an initialised `T` (written in `alloc`); it is consumed here, so the
        // value is read exactly once.
        let value = unsafe { obj.ptr.as_ptr().read() };
        client.kmem_cache_free(&mut self.cache, obj.ptr.as_ptr() as usize)?;
        Ok(value)
    }

    /// Destroys the cache (see [`Client::kmem_cache_destroy`]).
    pub fn destroy<Tr: Transport>(&mut self, client: &mut Client<Tr>) -> Result<(), Failure> {
        client.kmem_cache_destroy(&mut self.cache)
    }

    pub fn raw(&mut self) -> &mut KmemCache {
        &mut self.cache
    }
}

impl<T> Deref for Obj<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `ptr` holds an initialised `T` owned by this `Obj` (see `TypedCache::alloc`).
        unsafe { self.ptr.as_ref() }
    }
}

impl<T> DerefMut for Obj<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { self.ptr.as_mut() }
    }
}
